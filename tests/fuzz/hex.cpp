// Hex strings from JSON-RPC and files: decoding never crashes, and whatever
// decodes re-encodes to the lowercase form of the input.
#include <string>
#include <string_view>

#include "common/bytes.hpp"
#include "crypto/schnorr.hpp"
#include "fuzz_common.hpp"

using namespace cityledger;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto bytes = from_hex(text);
  if (bytes) {
    std::string lower(text);
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    FUZZ_ASSERT(to_hex(*bytes) == lower);
  }
  auto h = Hash32::from_hex(text);
  FUZZ_ASSERT(!h || (bytes && bytes->size() == 32));
  auto sig = crypto::Signature::from_hex(text);
  FUZZ_ASSERT(!sig || (bytes && bytes->size() == 64));
  if (h) (void)crypto::is_valid_public_key(*h);
  return 0;
}
