// Differential fuzzing of the auditor's hand-written GovernanceProposal reader
// (audit::decode_set_change_proposal, used to follow proof bundles'
// validator_sets) against the Protobuf library: on any bytes it must accept
// exactly the canonical proposals whose action is a validator-set change with
// the fields a set change needs, and read the same values.
#include "audit/set_change.hpp"
#include "cityledger.pb.h"
#include "fuzz_common.hpp"
#include "proto/codec.hpp"

using namespace cityledger;

namespace {

bool key_or_empty(const std::string& bytes) { return bytes.empty() || bytes.size() == 32; }

// What the reader must accept, said with the Protobuf library's view.
bool is_set_change(const pb::GovernanceProposal& p) {
  if (p.validator_set_hash().size() != 32) return false;
  switch (p.action_case()) {
    case pb::GovernanceProposal::kAddValidator: {
      if (!p.add_validator().has_validator()) return false;
      const auto& v = p.add_validator().validator();
      return !v.name().empty() && v.pubkey().size() == 32 && v.tls_pubkey().size() == 32 && !v.p2p().empty();
    }
    case pb::GovernanceProposal::kRemoveValidator:
      return p.remove_validator().pubkey().size() == 32;
    case pb::GovernanceProposal::kRotateValidatorKeys: {
      const auto& r = p.rotate_validator_keys();
      return r.pubkey().size() == 32 && key_or_empty(r.new_pubkey()) && key_or_empty(r.new_tls_pubkey());
    }
    default:
      return false;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const ByteSpan bytes{data, size};
  auto ours = audit::decode_set_change_proposal(bytes);
  auto reference = proto::decode<pb::GovernanceProposal>(bytes);
  FUZZ_ASSERT(ours.ok() == (reference.ok() && is_set_change(*reference)));
  if (!ours.ok()) return 0;
  const auto& p = *reference;
  FUZZ_ASSERT(ours->chain_id == p.chain_id());
  FUZZ_ASSERT(ours->validator_set_hash.to_string() == p.validator_set_hash());
  FUZZ_ASSERT(ours->effective_height == p.effective_height());
  FUZZ_ASSERT(ours->memo == p.memo());
  switch (p.action_case()) {
    case pb::GovernanceProposal::kAddValidator: {
      const auto& v = p.add_validator().validator();
      FUZZ_ASSERT(ours->kind == audit::SetChangeKind::add_validator);
      FUZZ_ASSERT(ours->added.name == v.name());
      FUZZ_ASSERT(ours->added.pubkey.to_string() == v.pubkey());
      FUZZ_ASSERT(ours->added.tls_pubkey.to_string() == v.tls_pubkey());
      FUZZ_ASSERT(ours->added.p2p == v.p2p());
      break;
    }
    case pb::GovernanceProposal::kRemoveValidator:
      FUZZ_ASSERT(ours->kind == audit::SetChangeKind::remove_validator);
      FUZZ_ASSERT(ours->pubkey.to_string() == p.remove_validator().pubkey());
      break;
    case pb::GovernanceProposal::kRotateValidatorKeys: {
      const auto& r = p.rotate_validator_keys();
      FUZZ_ASSERT(ours->kind == audit::SetChangeKind::rotate_validator_keys);
      FUZZ_ASSERT(ours->pubkey.to_string() == r.pubkey());
      FUZZ_ASSERT(ours->new_pubkey.has_value() == !r.new_pubkey().empty());
      FUZZ_ASSERT(!ours->new_pubkey || ours->new_pubkey->to_string() == r.new_pubkey());
      FUZZ_ASSERT(ours->new_tls_pubkey.has_value() == !r.new_tls_pubkey().empty());
      FUZZ_ASSERT(!ours->new_tls_pubkey || ours->new_tls_pubkey->to_string() == r.new_tls_pubkey());
      break;
    }
    default:
      FUZZ_ASSERT(false);
  }
  return 0;
}
