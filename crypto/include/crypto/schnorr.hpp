// BIP340 Schnorr keys and signatures over secp256k1 (libsecp256k1).
//
// Public keys are x-only (32 bytes, 64 lowercase hex characters outside the
// process). Messages are always 32-byte digests: use signing_digest() from
// crypto/signing.hpp to make one, never sign raw data.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "common/bytes.hpp"
#include "common/result.hpp"

namespace cityledger::crypto {

using PublicKey = Hash32;  // x-only BIP340 public key

struct Signature {
  std::array<std::uint8_t, 64> bytes{};

  static std::optional<Signature> from_span(ByteSpan data);  // nullopt unless 64 bytes
  static std::optional<Signature> from_hex(std::string_view hex);
  std::string hex() const;
  ByteSpan span() const { return {bytes.data(), bytes.size()}; }
  std::string to_string() const { return {reinterpret_cast<const char*>(bytes.data()), 64}; }
  auto operator<=>(const Signature&) const = default;
};

// A secret key. Its bytes are wiped when it is destroyed; it cannot be copied by
// accident (only moved, or copied through clone()).
class SecretKey {
 public:
  // A fresh key from the operating system's random source (OpenSSL RAND_bytes).
  static Result<SecretKey> generate();
  // Fails unless the 32 bytes are a valid secp256k1 secret (non-zero, < group order).
  static Result<SecretKey> from_bytes(ByteSpan bytes);
  // Deterministic keys for tests and simulations only.
  static SecretKey from_seed_for_testing(std::uint64_t seed);

  SecretKey(SecretKey&& other) noexcept;
  SecretKey& operator=(SecretKey&& other) noexcept;
  SecretKey(const SecretKey&) = delete;
  SecretKey& operator=(const SecretKey&) = delete;
  ~SecretKey();

  SecretKey clone() const;
  const PublicKey& public_key() const { return public_key_; }

  // BIP340 signature of a 32-byte digest. aux_rand is the BIP's auxiliary
  // randomness; zeros give a deterministic (still safe) signature.
  Signature sign(const Hash32& digest, const Hash32& aux_rand = Hash32{}) const;

  // Secret bytes, for writing a key file. Callers must wipe their copy.
  const std::array<std::uint8_t, 32>& secret_bytes() const { return secret_; }

 private:
  SecretKey() = default;
  std::array<std::uint8_t, 32> secret_{};
  std::array<std::uint8_t, 96> keypair_{};  // secp256k1_keypair, opaque
  PublicKey public_key_;
};

// False for a malformed key, a malformed signature or a wrong signature.
bool verify(const PublicKey& key, const Hash32& digest, const Signature& signature);
// The same verdict, parsing the key every time: the textbook cost of one
// BIP340 verification (verify() keeps recently parsed keys per thread). The
// network benchmark's signature ceiling is measured with this.
bool verify_uncached(const PublicKey& key, const Hash32& digest, const Signature& signature);
bool verify(const PublicKey& key, const Hash32& digest, ByteSpan signature);

// True when the 32 bytes are the x coordinate of a point on the curve.
bool is_valid_public_key(const PublicKey& key);

// Overwrites memory in a way the compiler may not remove.
void secure_wipe(void* data, std::size_t size);

// Key files: one line, the secret key as 64 hex characters. Written with mode
// 0600 (created exclusively, fsynced); refused on read when group- or
// world-accessible, like ssh does.
Status write_key_file(const std::filesystem::path& path, const SecretKey& key);
Result<SecretKey> read_key_file(const std::filesystem::path& path);

}  // namespace cityledger::crypto
