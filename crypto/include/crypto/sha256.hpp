// SHA-256 through OpenSSL's EVP interface: one-shot, streaming, and files of
// any size in bounded memory.
#pragma once

#include <filesystem>
#include <memory>

#include "common/bytes.hpp"
#include "common/result.hpp"

struct evp_md_ctx_st;

namespace cityledger::crypto {

Hash32 sha256(ByteSpan data);
inline Hash32 sha256(std::string_view data) { return sha256(as_bytes(data)); }

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  Sha256& update(ByteSpan data);
  Sha256& update(std::string_view data) { return update(as_bytes(data)); }
  // Returns the digest and resets the object for reuse.
  Hash32 finish();

 private:
  evp_md_ctx_st* ctx_ = nullptr;
};

// Reads the file in fixed-size chunks: memory use does not grow with its size.
Result<Hash32> sha256_file(const std::filesystem::path& path);

}  // namespace cityledger::crypto
