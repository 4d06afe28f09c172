#include "crypto/sha256.hpp"

#include <openssl/evp.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace cityledger::crypto {

namespace {

// OpenSSL 3 looks an algorithm up on every EVP_sha256()-based init unless it is
// fetched once; small hashes (Merkle nodes, signing digests) are dominated by
// that lookup otherwise.
const EVP_MD* sha256_md() {
  static EVP_MD* md = [] {
    EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    CL_CHECK(fetched != nullptr);
    return fetched;
  }();
  return md;
}

// One reusable context per thread for one-shot hashing.
struct ThreadContext {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ThreadContext() { CL_CHECK(ctx != nullptr); }
  ~ThreadContext() { EVP_MD_CTX_free(ctx); }
};

}  // namespace

Hash32 sha256(ByteSpan data) {
  thread_local ThreadContext thread_context;
  EVP_MD_CTX* ctx = thread_context.ctx;
  Hash32 out;
  unsigned int size = 0;
  CL_CHECK(EVP_DigestInit_ex2(ctx, sha256_md(), nullptr) == 1);
  CL_CHECK(EVP_DigestUpdate(ctx, data.data(), data.size()) == 1);
  CL_CHECK(EVP_DigestFinal_ex(ctx, out.bytes.data(), &size) == 1);
  CL_CHECK(size == 32);
  return out;
}

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  CL_CHECK(ctx_ != nullptr);
  CL_CHECK(EVP_DigestInit_ex2(ctx_, sha256_md(), nullptr) == 1);
}

Sha256::~Sha256() {
  if (ctx_ != nullptr) EVP_MD_CTX_free(ctx_);
}

Sha256::Sha256(Sha256&& other) noexcept : ctx_(other.ctx_) { other.ctx_ = nullptr; }

Sha256& Sha256::operator=(Sha256&& other) noexcept {
  if (this != &other) {
    if (ctx_ != nullptr) EVP_MD_CTX_free(ctx_);
    ctx_ = other.ctx_;
    other.ctx_ = nullptr;
  }
  return *this;
}

Sha256& Sha256::update(ByteSpan data) {
  CL_CHECK(ctx_ != nullptr);
  CL_CHECK(EVP_DigestUpdate(ctx_, data.data(), data.size()) == 1);
  return *this;
}

Hash32 Sha256::finish() {
  CL_CHECK(ctx_ != nullptr);
  Hash32 out;
  unsigned int size = 0;
  CL_CHECK(EVP_DigestFinal_ex(ctx_, out.bytes.data(), &size) == 1);
  CL_CHECK(size == 32);
  CL_CHECK(EVP_DigestInit_ex2(ctx_, sha256_md(), nullptr) == 1);
  return out;
}

Result<Hash32> sha256_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return error(ErrorCode::io_error, "cannot open " + path.string() + ": " + std::strerror(errno));
  }
  constexpr std::size_t chunk_size_bytes = 1 << 16;
  std::vector<std::uint8_t> buffer(chunk_size_bytes);
  Sha256 hasher;
  while (in) {
    in.read(reinterpret_cast<char*>(buffer.data()), static_cast<std::streamsize>(buffer.size()));
    const auto got = static_cast<std::size_t>(in.gcount());
    if (got > 0) hasher.update({buffer.data(), got});
  }
  if (in.bad()) return error(ErrorCode::io_error, "read error on " + path.string());
  return hasher.finish();
}

}  // namespace cityledger::crypto
