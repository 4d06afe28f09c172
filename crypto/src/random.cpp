#include "crypto/random.hpp"

#include <openssl/rand.h>

namespace cityledger::crypto {

Result<Hash32> random_hash32() {
  std::array<std::uint8_t, 32> raw{};
  if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1) {
    return error(ErrorCode::internal, "OpenSSL RAND_bytes failed");
  }
  return Hash32::from_span(ByteSpan(raw.data(), raw.size()));
}

}  // namespace cityledger::crypto
