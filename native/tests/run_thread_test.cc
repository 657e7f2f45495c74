// RunThread (native/ort/run_thread.h): jobs run one at a time on one thread, in the order
// posted, whether they arrive while the thread spins after a job or after it has parked; the
// destructor runs what was posted before it joins. Run under tsan by scripts/native-tests.mjs.
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "ort/run_thread.h"
#include "test_harness.h"

using namespace cascadeserve;

TEST(RunThreadRunsJobsInOrderOnOneThread) {
  std::mutex mu;
  std::vector<int> order;
  std::vector<std::thread::id> threads;
  std::atomic<int> done{0};
  {
    RunThread runner;
    for (int i = 0; i < 200; ++i) {
      runner.Post([&, i] {
        std::lock_guard<std::mutex> lock(mu);
        order.push_back(i);
        threads.push_back(std::this_thread::get_id());
        done++;
      });
      // Some posts land while the thread spins after a job, some after it has parked.
      if (i % 50 == 49) std::this_thread::sleep_for(std::chrono::microseconds(3 * RunThread::kIdleSpinUs));
      else if (i % 7 == 0) while (done.load() <= i) std::this_thread::yield();
    }
  }  // the destructor runs every job posted, then joins
  CHECK_EQ(done.load(), 200);
  CHECK_EQ(order.size(), static_cast<size_t>(200));
  bool in_order = true;
  for (int i = 0; i < static_cast<int>(order.size()); ++i) in_order = in_order && order[i] == i;
  CHECK(in_order);
  bool one_thread = true;
  for (const auto& id : threads) one_thread = one_thread && id == threads.front() && id != std::this_thread::get_id();
  CHECK(one_thread);
}

TEST(RunThreadDestroyedIdleJoins) {
  auto runner = std::make_unique<RunThread>();
  std::atomic<bool> ran{false};
  runner->Post([&] { ran = true; });
  std::this_thread::sleep_for(std::chrono::microseconds(5 * RunThread::kIdleSpinUs));  // parked by now
  runner.reset();
  CHECK(ran.load());
  RunThread never_used;  // destroyed without a job: must not hang
}
