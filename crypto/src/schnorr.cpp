#include "crypto/schnorr.hpp"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <secp256k1.h>
#include <secp256k1_extrakeys.h>
#include <secp256k1_schnorrsig.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "crypto/sha256.hpp"

namespace cityledger::crypto {

namespace {

// One context for the whole process: after randomization it is only read, and
// libsecp256k1 documents read-only use from several threads as safe.
const secp256k1_context* context() {
  static const secp256k1_context* ctx = [] {
    secp256k1_context* c = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    CL_CHECK(c != nullptr);
    std::array<std::uint8_t, 32> seed{};
    if (RAND_bytes(seed.data(), static_cast<int>(seed.size())) == 1) {
      // Side-channel blinding for signing.
      const int randomized = secp256k1_context_randomize(c, seed.data());
      CL_CHECK(randomized == 1);
    }
    secure_wipe(seed.data(), seed.size());
    return c;
  }();
  return ctx;
}

secp256k1_keypair* as_keypair(std::array<std::uint8_t, 96>& raw) {
  static_assert(sizeof(secp256k1_keypair) == 96);
  return reinterpret_cast<secp256k1_keypair*>(raw.data());
}
const secp256k1_keypair* as_keypair(const std::array<std::uint8_t, 96>& raw) {
  return reinterpret_cast<const secp256k1_keypair*>(raw.data());
}

std::string errno_text() { return std::strerror(errno); }

}  // namespace

void secure_wipe(void* data, std::size_t size) { OPENSSL_cleanse(data, size); }

std::optional<Signature> Signature::from_span(ByteSpan data) {
  if (data.size() != 64) return std::nullopt;
  Signature s;
  std::copy(data.begin(), data.end(), s.bytes.begin());
  return s;
}

std::optional<Signature> Signature::from_hex(std::string_view hex) {
  if (hex.size() != 128) return std::nullopt;
  auto raw = cityledger::from_hex(hex);
  if (!raw) return std::nullopt;
  return from_span(*raw);
}

std::string Signature::hex() const { return to_hex(span()); }

Result<SecretKey> SecretKey::from_bytes(ByteSpan bytes) {
  if (bytes.size() != 32) return error(ErrorCode::invalid_argument, "secret key must be 32 bytes");
  SecretKey key;
  std::copy(bytes.begin(), bytes.end(), key.secret_.begin());
  if (secp256k1_keypair_create(context(), as_keypair(key.keypair_), key.secret_.data()) != 1) {
    return error(ErrorCode::invalid_argument, "secret key is not a valid secp256k1 scalar");
  }
  secp256k1_xonly_pubkey xonly;
  CL_CHECK(secp256k1_keypair_xonly_pub(context(), &xonly, nullptr, as_keypair(key.keypair_)) == 1);
  CL_CHECK(secp256k1_xonly_pubkey_serialize(context(), key.public_key_.bytes.data(), &xonly) == 1);
  return key;
}

Result<SecretKey> SecretKey::generate() {
  // A random 32-byte string fails to be a valid scalar with probability ~2^-128;
  // the loop is bounded anyway.
  for (int attempt = 0; attempt < 8; ++attempt) {
    std::array<std::uint8_t, 32> raw{};
    if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1) {
      return error(ErrorCode::internal, "OpenSSL RAND_bytes failed");
    }
    auto key = from_bytes(raw);
    secure_wipe(raw.data(), raw.size());
    if (key.ok()) return key;
  }
  return error(ErrorCode::internal, "could not generate a valid secret key");
}

SecretKey SecretKey::from_seed_for_testing(std::uint64_t seed) {
  std::string material = "cityledger test key " + std::to_string(seed);
  for (int counter = 0;; ++counter) {
    const Hash32 h = sha256(material + "/" + std::to_string(counter));
    auto key = from_bytes(h.span());
    if (key.ok()) return std::move(key).value();
  }
}

SecretKey::SecretKey(SecretKey&& other) noexcept
    : secret_(other.secret_), keypair_(other.keypair_), public_key_(other.public_key_) {
  secure_wipe(other.secret_.data(), other.secret_.size());
  secure_wipe(other.keypair_.data(), other.keypair_.size());
}

SecretKey& SecretKey::operator=(SecretKey&& other) noexcept {
  if (this != &other) {
    secret_ = other.secret_;
    keypair_ = other.keypair_;
    public_key_ = other.public_key_;
    secure_wipe(other.secret_.data(), other.secret_.size());
    secure_wipe(other.keypair_.data(), other.keypair_.size());
  }
  return *this;
}

SecretKey::~SecretKey() {
  secure_wipe(secret_.data(), secret_.size());
  secure_wipe(keypair_.data(), keypair_.size());
}

SecretKey SecretKey::clone() const {
  SecretKey copy;
  copy.secret_ = secret_;
  copy.keypair_ = keypair_;
  copy.public_key_ = public_key_;
  return copy;
}

Signature SecretKey::sign(const Hash32& digest, const Hash32& aux_rand) const {
  Signature out;
  CL_CHECK(secp256k1_schnorrsig_sign32(context(), out.bytes.data(), digest.data(), as_keypair(keypair_),
                                       aux_rand.data()) == 1);
  return out;
}

namespace {

// Parsed x-only keys, per thread (so without a lock). A consortium's
// transactions and votes come from a handful of keys, and parsing one (a field
// square root) is about a tenth of a verification. Direct-mapped: a slot
// holds the last key that hashed to it; a miss parses as before.
const secp256k1_xonly_pubkey* parsed_key(const PublicKey& key) {
  struct Slot {
    PublicKey key;
    secp256k1_xonly_pubkey parsed;
    bool used = false;
  };
  thread_local std::array<Slot, 64> cache{};
  // A valid key's bytes are an x coordinate: uniform enough to index by.
  Slot& slot = cache[(key.data()[31] ^ key.data()[17]) % cache.size()];
  if (slot.used && slot.key == key) return &slot.parsed;
  slot.used = false;
  if (secp256k1_xonly_pubkey_parse(context(), &slot.parsed, key.data()) != 1) return nullptr;
  slot.key = key;
  slot.used = true;
  return &slot.parsed;
}

}  // namespace

bool verify(const PublicKey& key, const Hash32& digest, const Signature& signature) {
  const secp256k1_xonly_pubkey* xonly = parsed_key(key);
  if (xonly == nullptr) return false;
  return secp256k1_schnorrsig_verify(context(), signature.bytes.data(), digest.data(), 32, xonly) == 1;
}

bool verify_uncached(const PublicKey& key, const Hash32& digest, const Signature& signature) {
  secp256k1_xonly_pubkey xonly;
  if (secp256k1_xonly_pubkey_parse(context(), &xonly, key.data()) != 1) return false;
  return secp256k1_schnorrsig_verify(context(), signature.bytes.data(), digest.data(), 32, &xonly) == 1;
}

bool verify(const PublicKey& key, const Hash32& digest, ByteSpan signature) {
  auto sig = Signature::from_span(signature);
  return sig.has_value() && verify(key, digest, *sig);
}

bool is_valid_public_key(const PublicKey& key) { return parsed_key(key) != nullptr; }

Status write_key_file(const std::filesystem::path& path, const SecretKey& key) {
  const std::string tmp = path.string() + ".tmp";
  ::unlink(tmp.c_str());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return error(ErrorCode::io_error, "cannot create " + tmp + ": " + errno_text());
  std::string text = to_hex(ByteSpan{key.secret_bytes().data(), 32}) + "\n";
  const ssize_t written = ::write(fd, text.data(), text.size());
  secure_wipe(text.data(), text.size());
  const bool ok = written == 65 && ::fchmod(fd, 0600) == 0 && ::fsync(fd) == 0;
  const int saved_errno = errno;
  ::close(fd);
  if (!ok) {
    ::unlink(tmp.c_str());
    return error(ErrorCode::io_error, "cannot write " + tmp + ": " + std::strerror(saved_errno));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return error(ErrorCode::io_error, "cannot rename key file into " + path.string() + ": " + errno_text());
  }
  // Make the rename itself durable.
  const auto dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    (void)::fsync(dir_fd);
    ::close(dir_fd);
  }
  return {};
}

Result<SecretKey> read_key_file(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return error(ErrorCode::io_error, "cannot open key file " + path.string() + ": " + errno_text());
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return error(ErrorCode::io_error, "cannot stat key file " + path.string() + ": " + errno_text());
  }
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    ::close(fd);
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return error(ErrorCode::permission_denied, "key file " + path.string() + " has mode " + mode +
                                                   ": it is readable by others; run chmod 600 on it");
  }
  std::array<char, 256> buffer{};
  const ssize_t got = ::read(fd, buffer.data(), buffer.size());
  ::close(fd);
  if (got < 0)
    return error(ErrorCode::io_error, "cannot read key file " + path.string() + ": " + errno_text());
  std::string_view text(buffer.data(), static_cast<std::size_t>(got));
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' '))
    text.remove_suffix(1);
  Result<SecretKey> result =
      error(ErrorCode::invalid_argument,
            "key file " + path.string() + " does not hold a 64-hex-character secret key");
  if (text.size() == 64) {
    auto raw = from_hex(text);
    if (raw) {
      result = SecretKey::from_bytes(*raw);
      secure_wipe(raw->data(), raw->size());
      if (!result.ok()) {
        result = error(ErrorCode::invalid_argument,
                       "key file " + path.string() + ": " + result.status().message());
      }
    }
  }
  secure_wipe(buffer.data(), buffer.size());
  return result;
}

}  // namespace cityledger::crypto
