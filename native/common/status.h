// Status: the one error model of native/. Functions that can fail return a Status (or fill
// an out-parameter and return a Status); nothing in native/ throws across its API.
#pragma once

#include <string>
#include <utility>

namespace cascadeserve {

// The values cross the addon as plain ints and are mirrored in ts/engine/engine.ts
// (kStatusNames); nothing checks the two agree, so do not renumber.
enum class StatusCode : int {
  kOk = 0,
  kInvalidArgument = 1,  // the caller passed something wrong (shape, type, config field)
  kRuntimeError = 2,     // ONNX Runtime or the system failed; message carries its text
  kOverloaded = 3,       // a bounded queue was full; the request was refused, not queued
  kTimeout = 4,          // the request's deadline passed before it could run
  kCancelled = 5,        // the engine closed before the request ran
  kUnavailable = 6,      // a capability is missing (for example the CUDA provider)
};

class Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
  static Status RuntimeError(std::string m) { return {StatusCode::kRuntimeError, std::move(m)}; }
  static Status Overloaded(std::string m) { return {StatusCode::kOverloaded, std::move(m)}; }
  static Status Timeout(std::string m) { return {StatusCode::kTimeout, std::move(m)}; }
  static Status Cancelled(std::string m) { return {StatusCode::kCancelled, std::move(m)}; }
  static Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// Propagates a failed Status to the caller.
#define CS_RETURN_IF_ERROR(expr)                      \
  do {                                                \
    ::cascadeserve::Status cs_status_ = (expr);       \
    if (!cs_status_.ok()) return cs_status_;          \
  } while (0)

}  // namespace cascadeserve
