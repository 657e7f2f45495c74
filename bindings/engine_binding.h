// N-API surface of the cascade engine: EngineHandle wraps native/engine's Engine with
// ONNX Runtime runners. Crossings: one submit() per group of requests (JS -> C++), and one
// callback per group of completed batches (C++ -> JS): lane threads append their results to
// a pending list, and the first append after a delivery schedules one thread-safe call that
// takes the whole list. Results travel as one row of numbers per item in one typed array
// (ResultRowField), not as objects per item.
#pragma once

#include <napi.h>

#include <memory>
#include <mutex>
#include <vector>

#include "engine/engine.h"

namespace cascadeserve::bindings {

// Position of each field in a delivered item's row of doubles (Deliver), and the row's width.
// Exported with the enum tables (enum_table.cc) and checked against kResultRowFields in
// ts/contracts/enums.ts at load.
enum class ResultRowField : int {
  kTicket = 0,
  kStatus = 1,          // StatusCode
  kPredictedClass = 2,  // -1 unless ok
  kCertainty = 3,
  kExitStage = 4,
  kModel = 5,  // model index, -1 when none
  kQueuedUs = 6,
  kComputeUs = 7,
  kWidth = 8,
};

// Results waiting for the JavaScript thread. Shared by the lanes (producers) and the
// thread-safe function's callback (consumer); guarded by `mu`.
struct PendingResults {
  std::mutex mu;
  std::vector<ItemResult> items;
  std::vector<std::string> messages;  // error message per item (empty when none)
  bool delivery_scheduled = false;
  // Set when the handle is destroyed without close() (garbage collection or environment
  // teardown): from then on results are dropped instead of sent, since the thread-safe
  // function may already be going away with the environment.
  bool detached = false;
};

class EngineHandle : public Napi::ObjectWrap<EngineHandle> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit EngineHandle(const Napi::CallbackInfo& info);
  ~EngineHandle() override;
  // Completes construction with an engine created off the JS thread.
  void Adopt(std::unique_ptr<Engine> engine) { engine_ = std::move(engine); }
  static void Deliver(Napi::Env env, Napi::Function callback, PendingResults* pending);

  std::shared_ptr<PendingResults> pending = std::make_shared<PendingResults>();
  Napi::ThreadSafeFunction tsfn;

 private:
  Napi::Value Submit(const Napi::CallbackInfo& info);
  Napi::Value SubmitTensors(const Napi::CallbackInfo& info);
  Napi::Value SetGear(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value Pause(const Napi::CallbackInfo& info);
  Napi::Value Resume(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value SetRef(const Napi::CallbackInfo& info);
  Napi::Value ItemElems(const Napi::CallbackInfo& info);
  void CloseEngine();

  std::unique_ptr<Engine> engine_;
  bool tsfn_released_ = false;
};

// createEngine(runtime, config, gear, onResults) -> Promise<EngineHandle>
Napi::Value CreateEngine(const Napi::CallbackInfo& info);
// Steady-clock microseconds, the clock of the engine's timestamps.
Napi::Value EngineNowUs(const Napi::CallbackInfo& info);
// Gives this thread's CPU to another runnable thread, if any (std::this_thread::yield): the
// event loop's wait spin (ts/engine/wait-spin.ts) calls it each turn, so a lane the scheduler
// woke on the JavaScript thread's CPU runs at once instead of after the spin.
Napi::Value YieldThread(const Napi::CallbackInfo& info);

}  // namespace cascadeserve::bindings
