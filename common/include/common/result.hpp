// Operating errors are values: every fallible call returns a Status or a Result<T>
// and the caller must look at it ([[nodiscard]]). Programmer errors are CL_CHECK.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>

#include "common/check.hpp"

namespace cityledger {

enum class ErrorCode : std::uint8_t {
  ok = 0,
  invalid_argument,  // malformed input from a client or a peer
  not_found,
  already_exists,
  permission_denied,  // wrong key, wrong role, unsafe file mode
  corruption,         // stored data failed a check: refuse to serve
  io_error,           // the operating system said no (full disk, missing file)
  unavailable,        // try again later
  internal,
};

[[nodiscard]] const char* error_code_name(ErrorCode code) noexcept;

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok_status() { return {}; }

  bool ok() const noexcept { return code_ == ErrorCode::ok; }
  ErrorCode code() const noexcept { return code_; }
  const std::string& message() const noexcept { return message_; }
  // "corruption: block 12: stored root differs from header"
  std::string to_string() const;

 private:
  ErrorCode code_ = ErrorCode::ok;
  std::string message_;
};

inline Status error(ErrorCode code, std::string message) { return {code, std::move(message)}; }

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}        // NOLINT: implicit by design
  Result(Status status) : state_(std::move(status)) {  // NOLINT: implicit by design
    CL_CHECK(!std::get<Status>(state_).ok());
  }

  bool ok() const noexcept { return std::holds_alternative<T>(state_); }
  explicit operator bool() const noexcept { return ok(); }

  const Status& status() const {
    static const Status ok_status;
    return ok() ? ok_status : std::get<Status>(state_);
  }
  T& value() & {
    CL_CHECK(ok());
    return std::get<T>(state_);
  }
  const T& value() const& {
    CL_CHECK(ok());
    return std::get<T>(state_);
  }
  // By value, so `for (auto& x : f().value())` cannot dangle.
  T value() && {
    CL_CHECK(ok());
    return std::get<T>(std::move(state_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> state_;
};

}  // namespace cityledger

// Returns early from the enclosing function when a Status is not ok.
#define CL_TRY(expr)                          \
  do {                                        \
    ::cityledger::Status cl_status_ = (expr); \
    if (!cl_status_.ok()) return cl_status_;  \
  } while (0)
