// P2P frames: any bytes a peer sends are decoded as an Envelope. Decoding must
// never crash, and whatever decodes is canonical (re-encodes to the same bytes).
#include "fuzz_common.hpp"
#include "proto/codec.hpp"
#include "proto/objects.hpp"

using namespace cityledger;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto envelope = proto::decode<pb::Envelope>(ByteSpan{data, size}, 1 << 20);
  if (!envelope.ok()) return 0;
  const std::string again = proto::encode(*envelope);
  FUZZ_ASSERT(again.size() == size &&
              std::equal(again.begin(), again.end(), reinterpret_cast<const char*>(data)));
  static const auto key = crypto::SecretKey::from_seed_for_testing(1);
  if (envelope->has_vote()) (void)proto::verify_vote(envelope->vote(), fuzz::chain_id, key.public_key());
  if (envelope->has_proposal()) {
    const auto& p = envelope->proposal();
    (void)proto::verify_proposal(p.proposal(), fuzz::chain_id, key.public_key());
    (void)proto::block_hash(p.block().header());
    (void)proto::txs_root(p.block().txs());
  }
  if (envelope->has_tx()) (void)proto::verify_transaction(envelope->tx(), fuzz::chain_id);
  return 0;
}
