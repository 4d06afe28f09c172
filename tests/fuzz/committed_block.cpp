// Blocks with their commit certificates, as a catching-up node receives them.
#include "fuzz_common.hpp"
#include "proto/codec.hpp"
#include "proto/objects.hpp"

using namespace cityledger;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto committed = proto::decode<pb::CommittedBlock>(ByteSpan{data, size}, 4 << 20);
  if (!committed.ok()) return 0;
  const auto& block = committed->block();
  (void)proto::block_hash(block.header());
  (void)proto::txs_root(block.txs());
  for (const auto& tx : block.txs()) (void)proto::verify_transaction(tx, fuzz::chain_id);
  for (const auto& sig : committed->commit().signatures()) {
    const pb::Vote vote = proto::precommit_of(committed->commit(), sig);
    (void)proto::vote_digest(vote, fuzz::chain_id);
  }
  return 0;
}
