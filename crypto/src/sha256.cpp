#include "crypto/sha256.hpp"

#include <openssl/evp.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace cityledger::crypto {

Hash32 sha256(ByteSpan data) {
  Hash32 out;
  unsigned int size = 0;
  CL_CHECK(EVP_Digest(data.data(), data.size(), out.bytes.data(), &size, EVP_sha256(), nullptr) == 1);
  CL_CHECK(size == 32);
  return out;
}

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  CL_CHECK(ctx_ != nullptr);
  CL_CHECK(EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) == 1);
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
  CL_CHECK(EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) == 1);
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
