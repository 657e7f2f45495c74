#include "settle_queue.h"

#include <cstdlib>
#include <thread>

#include "addon.h"
#include "errors.h"

// The few libuv calls used here, declared rather than included: the Node-API headers the addon
// builds against do not ship uv.h. Node exports these symbols, and libuv keeps them stable
// through its 1.x releases; the handle's size comes from libuv itself (uv_handle_size).
extern "C" {
struct uv_loop_s;
struct uv_handle_s;
typedef void (*cs_uv_async_cb)(void* async_handle);
typedef void (*cs_uv_close_cb)(uv_handle_s* handle);
size_t uv_handle_size(int type);
int uv_async_init(uv_loop_s* loop, void* async_handle, cs_uv_async_cb cb);
int uv_async_send(void* async_handle);
void uv_close(uv_handle_s* handle, cs_uv_close_cb cb);
void uv_ref(uv_handle_s* handle);
void uv_unref(uv_handle_s* handle);
void uv_handle_set_data(uv_handle_s* handle, void* data);
void* uv_handle_get_data(const uv_handle_s* handle);
}

namespace cascadeserve::bindings {

namespace {
constexpr int kUvAsync = 1;  // UV_ASYNC in uv_handle_type
}

struct SettleQueue::Loop {
  uv_handle_s* async = nullptr;  // a uv_async_t, allocated with libuv's own size for it
  Napi::AsyncContext context;    // the settles run in a callback scope of this context
  explicit Loop(Napi::Env env) : context(env, "cascadeserve-session-run") {}
};

SettleQueue::SettleQueue(Napi::Env env, SettleFn settle, AbandonFn abandon)
    : env_(env), settle_(settle), abandon_(abandon) {}

SettleQueue::~SettleQueue() = default;

std::shared_ptr<SettleQueue> SettleQueue::ForEnv(Napi::Env env, SettleFn settle, AbandonFn abandon) {
  AddonData& data = GetAddonData(env);
  if (data.settle_queue) return data.settle_queue;
  uv_loop_s* uv_loop = nullptr;
  if (napi_get_uv_event_loop(env, reinterpret_cast<struct uv_loop_s**>(&uv_loop)) != napi_ok || uv_loop == nullptr) {
    Napi::Error::New(env, "cascadeserve: the event loop of this environment cannot be reached").ThrowAsJavaScriptException();
    return nullptr;
  }
  std::shared_ptr<SettleQueue> queue(new SettleQueue(env, settle, abandon));
  auto loop = std::make_unique<Loop>(env);
  void* handle = std::calloc(1, uv_handle_size(kUvAsync));
  if (handle == nullptr || uv_async_init(uv_loop, handle, &SettleQueue::OnWake) != 0) {
    std::free(handle);
    Napi::Error::New(env, "cascadeserve: could not create the event-loop handle for session runs").ThrowAsJavaScriptException();
    return nullptr;
  }
  loop->async = static_cast<uv_handle_s*>(handle);
  uv_handle_set_data(loop->async, queue.get());
  uv_unref(loop->async);  // only outstanding runs keep the loop alive (Expect)
  queue->loop_ = std::move(loop);
  napi_add_env_cleanup_hook(env, &SettleQueue::OnCleanup, new std::shared_ptr<SettleQueue>(queue));
  data.settle_queue = queue;
  return queue;
}

void SettleQueue::Expect() {
  if (outstanding_++ == 0 && loop_) uv_ref(loop_->async);
}

bool SettleQueue::Push(SettleNode* node) {
  // Counted before closed_ is read, and Close sets closed_ before it waits for the count to drop:
  // a poster either sees closed_ or is waited for (both sequentially consistent).
  pushing_.fetch_add(1);
  if (closed_.load()) {
    pushing_.fetch_sub(1);
    return false;
  }
  SettleNode* head = head_.load(std::memory_order_relaxed);
  do {
    node->settle_next = head;
  } while (!head_.compare_exchange_weak(head, node, std::memory_order_release, std::memory_order_relaxed));
  uv_async_send(loop_->async);  // loop_ stays while pushing_ > 0
  pushing_.fetch_sub(1);
  return true;
}

void SettleQueue::OnWake(void* async_handle) {
  auto* queue = static_cast<SettleQueue*>(uv_handle_get_data(static_cast<uv_handle_s*>(async_handle)));
  queue->Drain();
}

void SettleQueue::Drain() {
  SettleNode* newest_first = head_.exchange(nullptr, std::memory_order_acquire);
  if (newest_first == nullptr) return;
  SettleNode* oldest_first = nullptr;
  while (newest_first != nullptr) {
    SettleNode* next = newest_first->settle_next;
    newest_first->settle_next = oldest_first;
    oldest_first = newest_first;
    newest_first = next;
  }
  Napi::HandleScope scope(env_);
  if (!CanRunJavaScript(env_)) {  // the environment is going away: nobody waits for these
    for (SettleNode* node = oldest_first; node != nullptr;) {
      SettleNode* next = node->settle_next;
      --outstanding_;
      abandon_(node);
      node = next;
    }
    return;
  }
  // Promise reactions run when this scope closes, as after any callback from the event loop.
  Napi::CallbackScope callback_scope(env_, loop_->context);
  while (oldest_first != nullptr) {
    SettleNode* next = oldest_first->settle_next;
    --outstanding_;
    settle_(env_, oldest_first);
    if (env_.IsExceptionPending()) {
      Napi::Error error = env_.GetAndClearPendingException();
      napi_fatal_exception(env_, error.Value());
    }
    oldest_first = next;
  }
  if (outstanding_ == 0 && loop_) uv_unref(loop_->async);
}

void SettleQueue::OnCleanup(void* queue_ref) {
  auto* ref = static_cast<std::shared_ptr<SettleQueue>*>(queue_ref);
  (*ref)->Close();
  delete ref;
}

void SettleQueue::Close() {
  closed_.store(true);
  // A poster inside Push may be preempted by this thread on this CPU: yield until it is out.
  while (pushing_.load() != 0) std::this_thread::yield();
  for (SettleNode* run = head_.exchange(nullptr); run != nullptr;) {
    SettleNode* next = run->settle_next;
    abandon_(run);
    run = next;
  }
  uv_close(loop_->async, [](uv_handle_s* handle) { std::free(handle); });
  loop_.reset();
}

}  // namespace cascadeserve::bindings
