// Governance actions from clients and peers' blocks: the full rule check of
// docs/governance.md against a fixed four-validator state (the seeds'
// validators, from_seed_for_testing(1..4)). An accepted action must carry a
// proposal that round-trips canonically, 2f+1 approvals, and, for a set
// change, produce a valid set.
#include "fuzz_common.hpp"
#include "node/governance.hpp"
#include "proto/codec.hpp"

using namespace cityledger;

namespace {

const node::GovernanceState& state() {
  static const node::GovernanceState s = [] {
    node::GovernanceState out;
    for (std::uint64_t i = 1; i <= 4; ++i) {
      audit::GenesisValidator v;
      v.name = "node" + std::to_string(i);
      v.pubkey = crypto::SecretKey::from_seed_for_testing(i).public_key();
      v.tls_pubkey = Hash32::from_span(as_bytes(std::string(32, static_cast<char>(i))));
      v.p2p = "127.0.0.1:2660" + std::to_string(i);
      out.validators.push_back(v);
    }
    return out;
  }();
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto action = proto::decode<pb::GovernanceAction>(ByteSpan{data, size}, 1 << 20);
  if (!action.ok()) return 0;
  auto checked = node::check_governance(*action, fuzz::chain_id, state(), 10);
  if (!checked.ok()) return 0;
  FUZZ_ASSERT(proto::encode(checked->proposal) == action->proposal());
  FUZZ_ASSERT(static_cast<std::uint32_t>(action->approvals_size()) >= state().validator_set().quorum());
  if (node::is_set_change(checked->proposal)) {
    FUZZ_ASSERT(checked->proposal.effective_height() > 10);
    FUZZ_ASSERT(node::changed_validator_set(state().validators, checked->proposal).ok());
  }
  return 0;
}
