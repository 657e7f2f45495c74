// RunThread: one thread that runs posted jobs in the order they were posted; a Session's runs
// off the JavaScript thread go to its own RunThread (bindings/session_binding.cc). Compared
// with libuv's shared thread pool it saves the wake-up of a sleeping thread on every run of a
// caller that waits for each answer before it asks again: after each job the thread spins for
// kIdleSpinUs before it parks, and a run posted in that window starts at once. It also keeps a
// model's runs on one thread (its caches and ONNX Runtime's per-thread buffers stay warm).
// A job posted with the caller's CPU runs there and delivers from the idle class
// (native/common/cpu_share.h): the caller, asleep until the answer, is woken on a CPU that has
// not halted. Threading: Post from any thread; the jobs, the spin and the placement belong to
// the run thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "common/cpu_share.h"

namespace cascadeserve {

class RunThread {
 public:
  // The window after a job in which the thread looks for the next one instead of sleeping.
  // A caller's next run follows the previous answer after its event loop wakes and reads it
  // (measured: tens of microseconds, more on a loaded host); a sleeping thread would add a
  // futex wake-up and a trip through the scheduler of the same order. Bounded: an idle
  // session's thread burns at most this much CPU per run, then sleeps.
  static constexpr int64_t kIdleSpinUs = 100;

  using Job = std::function<void()>;

  RunThread() : thread_([this] { Loop(); }) {}

  // Runs the jobs already posted, then joins.
  ~RunThread() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      closing_ = true;
    }
    wake_.notify_one();
    thread_.join();
  }

  RunThread(const RunThread&) = delete;
  RunThread& operator=(const RunThread&) = delete;

  // Runs `work`, then `deliver` (which wakes whoever waits for the work). With caller_cpu >= 0
  // (only where CpuShareAvailable()), `work` runs pinned to that CPU and `deliver` from
  // SCHED_IDLE; with -1, anywhere, as the thread started.
  void Post(Job work, Job deliver = nullptr, int caller_cpu = -1) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      jobs_.push_back(Posted{std::move(work), std::move(deliver), caller_cpu});
      queued_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_one();
  }

 private:
  struct Posted {
    Job work;
    Job deliver;
    int caller_cpu;
  };

  void Loop() {
    ThreadPlacement placement;
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      if (!jobs_.empty()) {
        Posted job = std::move(jobs_.front());
        jobs_.pop_front();
        queued_.fetch_sub(1, std::memory_order_relaxed);
        lock.unlock();
        placement.SetIdleClass(false);
        placement.PinTo(job.caller_cpu);
        job.work();
        if (job.caller_cpu >= 0) placement.SetIdleClass(true);
        if (job.deliver) job.deliver();
        job = Posted{};  // its captures are destroyed before the spin, outside the lock
        SpinForNextJob();
        lock.lock();
        continue;
      }
      if (closing_) return;
      wake_.wait(lock);
    }
  }

  // Returns when a job is queued or after kIdleSpinUs.
  void SpinForNextJob() {
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(kIdleSpinUs);
    while (queued_.load(std::memory_order_acquire) == 0 && std::chrono::steady_clock::now() < until) {
      // Yield rather than pause: where the cores are oversubscribed, the thread that is about
      // to post (the JavaScript thread) may be waiting for this very core.
      std::this_thread::yield();
    }
  }

  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<Posted> jobs_;           // guarded by mu_
  bool closing_ = false;              // guarded by mu_
  std::atomic<int64_t> queued_{0};    // jobs_.size(), readable without mu_ while spinning
  std::thread thread_;                // last: starts after the fields above exist
};

}  // namespace cascadeserve
