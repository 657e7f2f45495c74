// A tiny test harness: TEST(name) registers a function, CHECK* macros print file:line on
// failure and count passes and failures. The last line printed is "N passed, M failed"
// (counting checks); the exit code is nonzero when any check failed.
#pragma once

#include <atomic>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

namespace cstest {

struct Counters {
  std::atomic<int> passed{0};
  std::atomic<int> failed{0};
};
Counters& GetCounters();  // defined once, in engine_test.cc (function-local static)

struct TestCase {
  const char* name;
  void (*fn)();
};
std::vector<TestCase>& Registry();

struct Registrar {
  Registrar(const char* name, void (*fn)()) { Registry().push_back({name, fn}); }
};

inline bool Record(bool ok, const char* file, int line, const std::string& what) {
  if (ok) {
    GetCounters().passed++;
  } else {
    GetCounters().failed++;
    std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", file, line, what.c_str());
  }
  return ok;
}

template <typename A, typename B>
std::string Describe(const char* a_text, const char* b_text, const A& a, const B& b) {
  std::ostringstream out;
  out << a_text << " == " << b_text << " (" << a << " vs " << b << ")";
  return out.str();
}

}  // namespace cstest

#define TEST(name)                                                        \
  static void name();                                                     \
  static ::cstest::Registrar name##_registrar(#name, &name);              \
  static void name()

#define CHECK(cond) ::cstest::Record(static_cast<bool>(cond), __FILE__, __LINE__, #cond)
#define CHECK_EQ(a, b) \
  ::cstest::Record((a) == (b), __FILE__, __LINE__, ::cstest::Describe(#a, #b, (a), (b)))
#define CHECK_NEAR(a, b, eps)                                                              \
  ::cstest::Record(std::fabs(static_cast<double>(a) - static_cast<double>(b)) <= (eps),    \
                   __FILE__, __LINE__, ::cstest::Describe(#a, #b, (a), (b)) + " within " #eps)
