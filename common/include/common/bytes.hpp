// Fixed-size byte strings and lowercase hex, the form every binary value takes
// outside the process (JSON-RPC, key files, logs).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace cityledger {

using Bytes = std::vector<std::uint8_t>;
using ByteSpan = std::span<const std::uint8_t>;

// A 32-byte value: a SHA-256 digest, a Merkle node, an x-only public key.
struct Hash32 {
  std::array<std::uint8_t, 32> bytes{};

  static Hash32 from_span(ByteSpan data);  // data.size() must be 32
  static std::optional<Hash32> from_hex(std::string_view hex);

  std::string hex() const;
  ByteSpan span() const { return {bytes.data(), bytes.size()}; }
  const std::uint8_t* data() const { return bytes.data(); }
  std::string to_string() const { return {reinterpret_cast<const char*>(bytes.data()), 32}; }
  bool is_zero() const;

  auto operator<=>(const Hash32&) const = default;
};

std::string to_hex(ByteSpan data);
// Accepts upper or lower case; refuses odd length and non-hex characters.
std::optional<Bytes> from_hex(std::string_view hex);

inline ByteSpan as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

struct Hash32Hasher {
  std::size_t operator()(const Hash32& h) const noexcept {
    std::size_t out = 0;
    for (int i = 0; i < 8; ++i) out = (out << 8) | h.bytes[static_cast<std::size_t>(i)];
    return out;
  }
};

}  // namespace cityledger
