// Domain-separated signing digests: a signature made for one purpose on one
// chain never verifies for another purpose or another chain.
//
//   digest = SHA-256( "cityledger/v1/sig" || 0x00
//                     || u8(len(purpose))  || purpose
//                     || u16be(len(chain_id)) || chain_id
//                     || message )
//
// Lengths make the encoding injective (no purpose/chain pair can be shifted
// into another). See docs/encoding.md.
#pragma once

#include <string_view>

#include "common/bytes.hpp"

namespace cityledger::crypto {

namespace purpose {
inline constexpr std::string_view transaction = "tx";
inline constexpr std::string_view proposal = "proposal";
inline constexpr std::string_view vote = "vote";
inline constexpr std::string_view governance = "governance";
inline constexpr std::string_view contract_register = "contract-register";
inline constexpr std::string_view contract_event = "contract-event";
}  // namespace purpose

// purpose must be 1..255 bytes, chain_id 1..65535 bytes (CL_CHECK).
Hash32 signing_digest(std::string_view purpose, std::string_view chain_id, ByteSpan message);

}  // namespace cityledger::crypto
