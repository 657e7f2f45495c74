// SettleQueue: finished off-thread runs handed back to the JavaScript thread of one environment
// without a lock. A poster pushes the run onto a lock-free stack and wakes the event loop
// (uv_async_send); the JavaScript thread takes the whole stack at once and settles the runs in
// the order they were pushed.
// Why not a thread-safe function: napi_call_threadsafe_function wakes the event loop while it
// holds the function's queue lock. A Session's run thread delivers from SCHED_IDLE on the
// JavaScript thread's own CPU (native/common/cpu_share.h), so the woken JavaScript thread
// preempts it inside that lock and then blocks on it: two more context switches and two futex
// calls on every run.
// Threading: Push from any thread; everything else on the environment's JavaScript thread.
// Lifetime: shared by the environment (until its cleanup hook closes it) and by every poster
// that may still push; Push after Close returns false and the caller abandons its run.
#pragma once

#include <napi.h>

#include <atomic>
#include <memory>

namespace cascadeserve::bindings {

// What a poster hands over (an off-thread run derives from it); linked while queued.
struct SettleNode {
  SettleNode* settle_next = nullptr;
};

class SettleQueue {
 public:
  using SettleFn = void (*)(Napi::Env env, SettleNode* node);
  using AbandonFn = void (*)(SettleNode* node);

  // The environment's queue, created on first use (JavaScript thread). Null, with a JavaScript
  // exception pending, where the event loop cannot be reached.
  static std::shared_ptr<SettleQueue> ForEnv(Napi::Env env, SettleFn settle, AbandonFn abandon);

  ~SettleQueue();
  SettleQueue(const SettleQueue&) = delete;
  SettleQueue& operator=(const SettleQueue&) = delete;

  // JavaScript thread: a run was posted that will be pushed here; while any is outstanding the
  // event loop stays alive, as it does for a queued libuv work item.
  void Expect();
  // Any thread: hands `node` to the JavaScript thread. False once the environment is closing.
  bool Push(SettleNode* node);

 private:
  struct Loop;  // the libuv handle and async context, JavaScript thread only
  explicit SettleQueue(Napi::Env env, SettleFn settle, AbandonFn abandon);
  static void OnWake(void* async_handle);
  static void OnCleanup(void* queue_ref);  // queue_ref: the cleanup hook's own shared_ptr
  void Drain();  // JavaScript thread: settles every pushed run
  void Close();  // JavaScript thread, at environment teardown

  Napi::Env env_;
  SettleFn settle_;
  AbandonFn abandon_;
  std::unique_ptr<Loop> loop_;              // set and reset (Close) on the JavaScript thread; Push reads it while counted in pushing_
  int outstanding_ = 0;                     // JavaScript thread: expected and not yet settled
  std::atomic<SettleNode*> head_{nullptr};  // pushed, newest first
  std::atomic<int> pushing_{0};             // posters inside Push: Close waits them out
  std::atomic<bool> closed_{false};
};

}  // namespace cascadeserve::bindings
