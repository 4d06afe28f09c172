#include <cstdio>
#include <cstdlib>

#include "common/bytes.hpp"
#include "common/check.hpp"
#include "common/result.hpp"

namespace cityledger {

namespace detail {
void check_failed(const char* expression, const char* file, int line) noexcept {
  std::fprintf(stderr, "cityledger: internal check failed: %s (%s:%d)\n", expression, file, line);
  std::fflush(stderr);
  std::abort();
}
}  // namespace detail

const char* error_code_name(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::ok:
      return "ok";
    case ErrorCode::invalid_argument:
      return "invalid argument";
    case ErrorCode::not_found:
      return "not found";
    case ErrorCode::already_exists:
      return "already exists";
    case ErrorCode::permission_denied:
      return "permission denied";
    case ErrorCode::corruption:
      return "corruption";
    case ErrorCode::io_error:
      return "I/O error";
    case ErrorCode::unavailable:
      return "unavailable";
    case ErrorCode::internal:
      return "internal error";
  }
  return "unknown error";
}

std::string Status::to_string() const {
  if (ok()) return "ok";
  return std::string(error_code_name(code_)) + ": " + message_;
}

namespace {
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

std::string to_hex(ByteSpan data) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out(data.size() * 2, '0');
  for (std::size_t i = 0; i < data.size(); ++i) {
    out[2 * i] = digits[data[i] >> 4];
    out[2 * i + 1] = digits[data[i] & 0x0f];
  }
  return out;
}

std::optional<Bytes> from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  Bytes out(hex.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i) {
    const int hi = hex_value(hex[2 * i]);
    const int lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<std::uint8_t>((hi << 4) | lo);
  }
  return out;
}

Hash32 Hash32::from_span(ByteSpan data) {
  CL_CHECK(data.size() == 32);
  Hash32 out;
  std::copy(data.begin(), data.end(), out.bytes.begin());
  return out;
}

std::optional<Hash32> Hash32::from_hex(std::string_view hex) {
  if (hex.size() != 64) return std::nullopt;
  auto raw = cityledger::from_hex(hex);
  if (!raw) return std::nullopt;
  return from_span(*raw);
}

std::string Hash32::hex() const { return to_hex(span()); }

bool Hash32::is_zero() const {
  for (auto b : bytes)
    if (b != 0) return false;
  return true;
}

}  // namespace cityledger
