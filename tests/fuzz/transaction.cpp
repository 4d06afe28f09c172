// Transactions from clients: decode, then the full admission check. A
// transaction that passes must re-verify identically after a round trip.
#include "fuzz_common.hpp"
#include "proto/codec.hpp"
#include "proto/contracts.hpp"
#include "proto/objects.hpp"

using namespace cityledger;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto tx = proto::decode<pb::Transaction>(ByteSpan{data, size}, 2 << 20);
  if (!tx.ok()) return 0;
  auto verified = proto::verify_transaction(*tx, fuzz::chain_id);
  if (!verified.ok()) return 0;
  auto again = proto::decode<pb::Transaction>(proto::encode(*tx));
  FUZZ_ASSERT(again.ok());
  auto reverified = proto::verify_transaction(*again, fuzz::chain_id);
  FUZZ_ASSERT(reverified.ok() && reverified->hash == verified->hash);
  if (verified->body.has_contract()) {
    // An admitted contract action becomes a valid log leaf and a printable view.
    const auto& action = verified->body.contract();
    FUZZ_ASSERT(proto::validate_anchor_entry(proto::contract_anchor_entry(action)).ok());
    (void)proto::contract_action_json(action).dump();
    (void)proto::contract_cosign_digest(action, fuzz::chain_id);
  }
  return 0;
}
