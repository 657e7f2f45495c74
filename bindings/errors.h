// Converts native Status values into JavaScript errors. InvalidArgument becomes a TypeError-free
// plain Error with code "ERR_CS_INVALID_ARGUMENT" and so on, so that the TypeScript facade can
// map errors by code without parsing messages.
#pragma once

#include <napi.h>

#include "common/status.h"

namespace cascadeserve::bindings {

inline const char* StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "OK";
    case StatusCode::kInvalidArgument: return "ERR_CS_INVALID_ARGUMENT";
    case StatusCode::kRuntimeError: return "ERR_CS_RUNTIME";
    case StatusCode::kOverloaded: return "ERR_CS_OVERLOADED";
    case StatusCode::kTimeout: return "ERR_CS_TIMEOUT";
    case StatusCode::kCancelled: return "ERR_CS_CANCELLED";
    case StatusCode::kUnavailable: return "ERR_CS_UNAVAILABLE";
  }
  return "ERR_CS_UNKNOWN";
}

inline Napi::Error StatusToError(Napi::Env env, const Status& status) {
  Napi::Error err = Napi::Error::New(env, status.message());
  err.Set("code", Napi::String::New(env, StatusCodeName(status.code())));
  return err;
}

// Whether the environment may still run JavaScript. False while it is torn down (a worker
// thread that exits or is terminated, with answers still arriving): N-API then refuses every
// call that could run JavaScript, allocations included, with napi_pending_exception though none
// is pending, and a settle that went on would write through the buffers it did not get.
inline bool CanRunJavaScript(Napi::Env env) {
  napi_value probe;
  if (napi_create_arraybuffer(env, 0, nullptr, &probe) == napi_ok) return true;
  bool pending = false;
  return napi_is_exception_pending(env, &pending) == napi_ok && pending;  // a real exception: not teardown
}

// Cheap guards at the edge only; full validation happens in TypeScript.
#define CS_THROW_TYPE_IF(cond, env, msg)                      \
  do {                                                        \
    if (cond) {                                               \
      Napi::TypeError::New(env, msg).ThrowAsJavaScriptException(); \
      return {};                                              \
    }                                                         \
  } while (0)

// A call on an engine that was closed: the catalogue's ERR_CS_CLOSED (ts/errors.ts), which
// the server answers with 503 like any other "not available now".
#define CS_THROW_CLOSED_IF(cond, env)                                                  \
  do {                                                                                 \
    if (cond) {                                                                        \
      Napi::Error cs_err_ = Napi::Error::New(env, "engine is closed");                 \
      cs_err_.Set("code", Napi::String::New(env, "ERR_CS_CLOSED"));                    \
      cs_err_.ThrowAsJavaScriptException();                                            \
      return {};                                                                       \
    }                                                                                  \
  } while (0)

#define CS_THROW_IF_ERROR(env, expr)                                             \
  do {                                                                           \
    ::cascadeserve::Status cs_st_ = (expr);                                      \
    if (!cs_st_.ok()) {                                                          \
      ::cascadeserve::bindings::StatusToError(env, cs_st_).ThrowAsJavaScriptException(); \
      return {};                                                                 \
    }                                                                            \
  } while (0)

}  // namespace cascadeserve::bindings
