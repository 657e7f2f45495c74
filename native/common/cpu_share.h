// Sharing the waiting thread's CPU. A worker whose caller sleeps until the answer arrives can
// run on the caller's CPU and lower itself to SCHED_IDLE just before it wakes the caller: the
// caller's CPU is then busy (it never halts while the work runs) and the only task on it is
// idle-class, so the scheduler wakes the caller there and preempts the worker at once.
// Why: on the VMs measured, a CPU idle for more than about 200 us halts, and waking a thread
// on it costs about 80 us (benchmarks/event-loop-wake.ts); a worker on another CPU always
// leaves the caller's CPU idle for the whole run.
// Linux only; elsewhere CpuShareAvailable() is false and ThreadPlacement does nothing.
#pragma once

#if defined(__linux__)
#include <pthread.h>
#include <sched.h>
#endif

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <thread>

namespace cascadeserve {

// Whether a thread of this process may share a CPU this way: sched_getcpu works and a thread
// may return from SCHED_IDLE to SCHED_OTHER (root, CAP_SYS_NICE, or RLIMIT_NICE >= 20; without
// it a worker would stay idle-class for good). Probed once, on a throwaway thread.
inline bool CpuShareAvailable() {
#if defined(__linux__)
  static const bool available = [] {
    bool ok = false;
    std::thread probe([&ok] {
      sched_param p{};
      ok = sched_getcpu() >= 0 && pthread_setschedparam(pthread_self(), SCHED_IDLE, &p) == 0 &&
           pthread_setschedparam(pthread_self(), SCHED_OTHER, &p) == 0;
    });
    probe.join();
    return ok;
  }();
  return available;
#else
  return false;
#endif
}

// The CPU the calling thread runs on now, or -1 where unknown.
inline int CallingCpu() {
#if defined(__linux__)
  return sched_getcpu();
#else
  return -1;
#endif
}

// How much of the wall time a piece of work on this thread got the CPU for: below 1 when
// other threads ran on its CPU meanwhile. Construct before the work, read after, same thread.
class ThreadCpuShare {
 public:
  ThreadCpuShare() : wall_start_(std::chrono::steady_clock::now()), cpu_start_ns_(ThreadCpuNs()) {}
  double Fraction() const {
    const double wall_ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - wall_start_).count();
    if (cpu_start_ns_ < 0 || wall_ns <= 0) return 1;
    return static_cast<double>(ThreadCpuNs() - cpu_start_ns_) / wall_ns;
  }

 private:
  static int64_t ThreadCpuNs() {
#if defined(__linux__)
    timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0) return -1;
    return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
#else
    return -1;
#endif
  }
  std::chrono::steady_clock::time_point wall_start_;
  int64_t cpu_start_ns_;
};

// When a worker shares the caller's CPU. Sharing is right while the caller sleeps through the
// work; when the caller (or any other thread on that CPU) runs meanwhile, the work gets only a
// part of the CPU while another CPU may idle. So: after a shared run that got less than
// kMinCpuFraction of its CPU, stop sharing for a number of runs that doubles with each such run
// (kFirstBackoffRuns up to kMaxBackoffRuns), and reset after a shared run that had its CPU.
// Not thread-safe: one owner thread.
class CpuShareBackoff {
 public:
  static constexpr double kMinCpuFraction = 0.9;
  static constexpr int kFirstBackoffRuns = 16;
  static constexpr int kMaxBackoffRuns = 4096;

  // Whether the next run should share; counts the runs skipped.
  bool ShouldShare() {
    if (skip_runs_ == 0) return true;
    --skip_runs_;
    return false;
  }

  // The CPU fraction (ThreadCpuShare) a shared run got.
  void Observe(double cpu_fraction) {
    if (cpu_fraction >= kMinCpuFraction) {
      backoff_runs_ = 0;
      return;
    }
    backoff_runs_ = backoff_runs_ == 0 ? kFirstBackoffRuns : std::min(backoff_runs_ * 2, kMaxBackoffRuns);
    skip_runs_ = backoff_runs_;
  }

 private:
  int backoff_runs_ = 0;
  int skip_runs_ = 0;
};

// One thread's CPU affinity and scheduling class. Owned and used by that thread only.
// Construct it on the thread it places: it records the affinity the thread started with.
class ThreadPlacement {
 public:
  ThreadPlacement() {
#if defined(__linux__)
    CPU_ZERO(&initial_);
    recorded_ = pthread_getaffinity_np(pthread_self(), sizeof(initial_), &initial_) == 0;
#endif
  }

  // Pins the thread to `cpu`, or gives it back its initial affinity for -1. A system call
  // only when the placement changes.
  void PinTo(int cpu) {
    if (cpu == pinned_cpu_) return;
#if defined(__linux__)
    if (cpu >= 0 && cpu < CPU_SETSIZE) {
      cpu_set_t one;
      CPU_ZERO(&one);
      CPU_SET(cpu, &one);
      if (pthread_setaffinity_np(pthread_self(), sizeof(one), &one) != 0) return;  // e.g. a CPU outside the cpuset
    } else if (recorded_) {
      pthread_setaffinity_np(pthread_self(), sizeof(initial_), &initial_);
    }
#endif
    pinned_cpu_ = cpu;
  }

  // SCHED_IDLE (true) or SCHED_OTHER (false). Call with true only where CpuShareAvailable().
  void SetIdleClass(bool idle) {
    if (idle == idle_class_) return;
#if defined(__linux__)
    sched_param p{};
    if (pthread_setschedparam(pthread_self(), idle ? SCHED_IDLE : SCHED_OTHER, &p) != 0) return;
#endif
    idle_class_ = idle;
  }

 private:
#if defined(__linux__)
  cpu_set_t initial_;
  bool recorded_ = false;
#endif
  int pinned_cpu_ = -1;
  bool idle_class_ = false;
};

}  // namespace cascadeserve
