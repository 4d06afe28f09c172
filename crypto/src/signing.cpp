#include "crypto/signing.hpp"

#include "common/check.hpp"
#include "crypto/sha256.hpp"

namespace cityledger::crypto {

namespace {
constexpr std::string_view domain_tag{"cityledger/v1/sig\0", 18};
}

Hash32 signing_digest(std::string_view purpose, std::string_view chain_id, ByteSpan message) {
  CL_CHECK(!purpose.empty() && purpose.size() <= 0xff);
  CL_CHECK(!chain_id.empty() && chain_id.size() <= 0xffff);
  const std::uint8_t purpose_size = static_cast<std::uint8_t>(purpose.size());
  const std::uint8_t chain_size[2] = {static_cast<std::uint8_t>(chain_id.size() >> 8),
                                      static_cast<std::uint8_t>(chain_id.size() & 0xff)};
  Sha256 h;
  h.update(domain_tag);
  h.update(ByteSpan{&purpose_size, 1});
  h.update(purpose);
  h.update(ByteSpan{chain_size, 2});
  h.update(chain_id);
  h.update(message);
  return h.finish();
}

}  // namespace cityledger::crypto
