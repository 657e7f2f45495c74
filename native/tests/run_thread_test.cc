// RunThread (native/ort/run_thread.h): jobs run one at a time on one thread, in the order
// posted, whether they arrive while the thread spins after a job or after it has parked; the
// destructor runs what was posted before it joins. Run under tsan by scripts/native-tests.mjs.
#include <atomic>
#include <cstdio>
#include <chrono>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "common/cpu_share.h"
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

#if defined(__linux__)
// A job posted with the caller's CPU runs pinned there and delivers from SCHED_IDLE; the next
// job posted without one runs with the thread's first affinity and class again.
TEST(RunThreadRunsOnTheCallersCpuAndDeliversFromTheIdleClass) {
  if (!CpuShareAvailable()) {
    std::printf("  (skipped: this process may not leave SCHED_IDLE again)\n");
    return;
  }
  cpu_set_t initial;
  CPU_ZERO(&initial);
  CHECK_EQ(sched_getaffinity(0, sizeof(initial), &initial), 0);
  const int cpus = CPU_COUNT(&initial);
  struct Seen {
    int work_cpus = -1;       // CPUs in the worker's affinity during the work
    bool work_on_cpu = false; // the work ran on the CPU asked for
    int work_policy = -1;
    int deliver_policy = -1;
  };
  auto affinity_count = [] {
    cpu_set_t set;
    CPU_ZERO(&set);
    sched_getaffinity(0, sizeof(set), &set);
    return CPU_COUNT(&set);
  };
  RunThread runner;
  for (int round = 0; round < 3; ++round) {
    const int cpu = CallingCpu();
    Seen shared, plain;
    std::atomic<int> done{0};
    runner.Post([&] {
      shared.work_cpus = affinity_count();
      shared.work_on_cpu = sched_getcpu() == cpu;
      shared.work_policy = sched_getscheduler(0);
    }, [&] {
      shared.deliver_policy = sched_getscheduler(0);
      done++;
    }, cpu);
    runner.Post([&] {
      plain.work_cpus = affinity_count();
      plain.work_policy = sched_getscheduler(0);
    }, [&] {
      plain.deliver_policy = sched_getscheduler(0);
      done++;
    });
    while (done.load() < 2) std::this_thread::yield();
    CHECK_EQ(shared.work_cpus, 1);
    CHECK(shared.work_on_cpu);
    CHECK_EQ(shared.work_policy, SCHED_OTHER);
    CHECK_EQ(shared.deliver_policy, SCHED_IDLE);
    CHECK_EQ(plain.work_cpus, cpus);
    CHECK_EQ(plain.work_policy, SCHED_OTHER);
    CHECK_EQ(plain.deliver_policy, SCHED_OTHER);
  }
}
#endif

// The backoff stops sharing after a run that found its CPU busy, for 16 runs, then 32, ...,
// and shares at once again after a run that had its CPU.
TEST(CpuShareBackoffDoublesAndResets) {
  CpuShareBackoff backoff;
  CHECK(backoff.ShouldShare());
  backoff.Observe(0.99);
  CHECK(backoff.ShouldShare());
  auto skipped = [&backoff] {
    int n = 0;
    while (!backoff.ShouldShare()) ++n;
    return n;
  };
  // (CHECK_EQ evaluates its arguments twice: skipped() is read into a variable first.)
  backoff.Observe(0.5);
  int n = skipped();
  CHECK_EQ(n, CpuShareBackoff::kFirstBackoffRuns);
  backoff.Observe(0.5);
  n = skipped();
  CHECK_EQ(n, 2 * CpuShareBackoff::kFirstBackoffRuns);
  for (int i = 0; i < 20; ++i) {
    backoff.Observe(0.1);
    skipped();
  }
  backoff.Observe(0.1);
  n = skipped();
  CHECK_EQ(n, CpuShareBackoff::kMaxBackoffRuns);
  backoff.Observe(0.95);  // had its CPU: the next busy run starts the backoff over
  backoff.Observe(0.5);
  n = skipped();
  CHECK_EQ(n, CpuShareBackoff::kFirstBackoffRuns);
}
