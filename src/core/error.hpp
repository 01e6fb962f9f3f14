// Errors that cross module boundaries: a stable code (abseil's StatusCode meanings) that maps
// mechanically to an HTTP status and an RFC 9457 problem type, plus a human detail.
#pragma once

#include <expected>
#include <string>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

namespace atrium {

enum class ErrorCode {
  kInvalidArgument,      // 400: the request is malformed or a value is out of range
  kUnauthenticated,      // 401: no or bad credentials
  kPermissionDenied,     // 403: authenticated, may see the target, may not do this
  kNotFound,             // 404: does not exist, or the caller may not know it exists
  kMethodNotAllowed,     // 405
  kAlreadyExists,        // 409: a unique name is taken
  kFailedPrecondition,   // 409: the target's state does not allow this (archived, ...)
  kAborted,              // 409: a concurrent change won; retry
  kPreconditionFailed,   // 412: If-Match does not match
  kPayloadTooLarge,      // 413
  kUnsupportedMediaType, // 415
  kRangeNotSatisfiable,  // 416: a Range outside the file
  kUnprocessable,        // 422: well-formed but semantically refused (idempotency key reuse)
  kPreconditionRequired, // 428: If-Match is required
  kResourceExhausted,    // 429: rate limited
  kQuotaExceeded,        // 507: a storage/compute quota would be exceeded
  kInternal,             // 500
  kUnavailable,          // 503: shutting down, not ready
};

int http_status(ErrorCode code);
std::string_view code_name(ErrorCode code);

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string type;    // stable slug, e.g. "invalid-json"; becomes urn:atrium:problem:<type>
  std::string detail;  // what a person can act on
  nlohmann::json extra = nlohmann::json::object();  // problem extension members

  Error() = default;
  Error(ErrorCode c, std::string t, std::string d) : code(c), type(std::move(t)), detail(std::move(d)) {}
  Error&& with(std::string key, nlohmann::json value) && {
    extra[std::move(key)] = std::move(value);
    return std::move(*this);
  }
};

template <typename T>
using Result = std::expected<T, Error>;
using Status = std::expected<void, Error>;

inline std::unexpected<Error> fail(ErrorCode code, std::string type, std::string detail) {
  return std::unexpected(Error(code, std::move(type), std::move(detail)));
}
inline std::unexpected<Error> fail(Error e) { return std::unexpected(std::move(e)); }

inline std::unexpected<Error> invalid(std::string detail) {
  return fail(ErrorCode::kInvalidArgument, "invalid-argument", std::move(detail));
}
inline std::unexpected<Error> not_found(std::string what) {
  return fail(ErrorCode::kNotFound, "not-found", std::move(what) + " not found");
}
inline std::unexpected<Error> internal(std::string detail) {
  return fail(ErrorCode::kInternal, "internal", std::move(detail));
}

}  // namespace atrium

// TRY(expr): evaluates a Result; on error returns it from the enclosing function,
// otherwise yields the value. (A GNU statement expression: g++ and clang both accept it.)
#define TRY(expr)                                                 \
  ({                                                              \
    auto&& try_result_ = (expr);                                  \
    if (!try_result_) return std::unexpected(std::move(try_result_).error()); \
    std::move(try_result_).value();                               \
  })

// TRY_STATUS(expr): for Result<void>/Status.
#define TRY_STATUS(expr)                                          \
  do {                                                            \
    auto&& try_status_ = (expr);                                  \
    if (!try_status_) return std::unexpected(std::move(try_status_).error()); \
  } while (0)
