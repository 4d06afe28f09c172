// Secret random bytes from the operating system's source (OpenSSL RAND_bytes).
#pragma once

#include "common/bytes.hpp"
#include "common/result.hpp"

namespace cityledger::crypto {

// 32 random bytes (salts, nonces); internal error if the source fails.
Result<Hash32> random_hash32();

}  // namespace cityledger::crypto
