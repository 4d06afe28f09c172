#include "node/governance.hpp"

#include <algorithm>

#include "audit/set_change.hpp"
#include "crypto/sha256.hpp"
#include "proto/codec.hpp"
#include "proto/objects.hpp"

namespace cityledger::node {

namespace {

Status invalid(const std::string& message) { return error(ErrorCode::invalid_argument, message); }

Result<crypto::PublicKey> key_field(const std::string& bytes, std::string_view name) {
  auto key = proto::hash_field(bytes, name);
  if (!key) return key.status();
  if (!crypto::is_valid_public_key(*key)) {
    return invalid(std::string(name) + " is not a valid x-only public key");
  }
  return *key;
}

Status validate_roles(const google::protobuf::RepeatedPtrField<std::string>& roles, std::string_view name) {
  for (int i = 0; i < roles.size(); ++i) {
    if (!audit::is_known_role(roles[i]))
      return invalid(std::string(name) + ": unknown role '" + roles[i] + "'");
    if (i > 0 && !(roles[i - 1] < roles[i])) {
      return invalid(std::string(name) + ": roles must be unique and in ascending order");
    }
  }
  return {};
}

// host:port with a non-empty host and a port 1..65535.
Status validate_p2p_address(const std::string& address) {
  const auto colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size() || address.size() > 255) {
    return invalid("p2p address '" + address + "' is not host:port");
  }
  const std::string port = address.substr(colon + 1);
  if (port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      std::stoul(port) == 0 || std::stoul(port) > 65535) {
    return invalid("p2p address '" + address + "' has no valid port");
  }
  return {};
}

Status validate_action_fields(const pb::GovernanceProposal& p) {
  switch (p.action_case()) {
    case pb::GovernanceProposal::kAddValidator: {
      const auto& v = p.add_validator().validator();
      if (v.name().empty() || v.name().size() > validator_name_bytes_max) {
        return invalid("validator name must be 1.." + std::to_string(validator_name_bytes_max) + " bytes");
      }
      CL_TRY(key_field(v.pubkey(), "validator pubkey").status());
      CL_TRY(proto::hash_field(v.tls_pubkey(), "validator tls_pubkey").status());
      return validate_p2p_address(v.p2p());
    }
    case pb::GovernanceProposal::kRemoveValidator:
      return key_field(p.remove_validator().pubkey(), "pubkey").status();
    case pb::GovernanceProposal::kRotateValidatorKeys: {
      const auto& r = p.rotate_validator_keys();
      CL_TRY(key_field(r.pubkey(), "pubkey").status());
      if (r.new_pubkey().empty() && r.new_tls_pubkey().empty()) {
        return invalid("rotate_validator_keys changes nothing: give a new consensus key or a new TLS pin");
      }
      if (!r.new_pubkey().empty()) CL_TRY(key_field(r.new_pubkey(), "new_pubkey").status());
      if (!r.new_tls_pubkey().empty())
        CL_TRY(proto::hash_field(r.new_tls_pubkey(), "new_tls_pubkey").status());
      return {};
    }
    case pb::GovernanceProposal::kChangeRoles: {
      const auto& c = p.change_roles();
      CL_TRY(key_field(c.account(), "account").status());
      if (c.grant().empty() && c.revoke().empty()) return invalid("change_roles grants and revokes nothing");
      CL_TRY(validate_roles(c.grant(), "grant"));
      CL_TRY(validate_roles(c.revoke(), "revoke"));
      for (const auto& role : c.grant()) {
        if (std::find(c.revoke().begin(), c.revoke().end(), role) != c.revoke().end()) {
          return invalid("role '" + role + "' is both granted and revoked");
        }
      }
      return {};
    }
    case pb::GovernanceProposal::kSetBlockLimits: {
      const auto& l = p.set_block_limits();
      if (l.max_txs() < 1 || l.max_txs() > governed_block_max_txs_ceiling) {
        return invalid("block max_txs must be 1.." + std::to_string(governed_block_max_txs_ceiling));
      }
      if (l.max_bytes() < governed_block_max_bytes_floor ||
          l.max_bytes() > governed_block_max_bytes_ceiling) {
        return invalid("block max_bytes must be " + std::to_string(governed_block_max_bytes_floor) + ".." +
                       std::to_string(governed_block_max_bytes_ceiling));
      }
      return {};
    }
    case pb::GovernanceProposal::ACTION_NOT_SET:
      break;
  }
  return invalid("proposal has no action");
}

Status check_approvals(const pb::GovernanceAction& action, std::string_view chain_id,
                       const consensus::ValidatorSet& set) {
  const Hash32 digest = proto::governance_digest(chain_id, as_bytes(action.proposal()));
  std::optional<crypto::PublicKey> previous;
  for (const auto& approval : action.approvals()) {
    auto key = proto::hash_field(approval.validator(), "approval validator");
    if (!key) return key.status();
    if (previous && !(*previous < *key)) {
      return invalid("approvals must be in strictly ascending order of validator key (one per validator)");
    }
    previous = *key;
    if (!set.index_of(*key)) {
      return error(ErrorCode::permission_denied,
                   "approval from " + key->hex() + ", which is not a validator of the current set");
    }
    if (!crypto::verify(*key, digest, as_bytes(approval.signature()))) {
      return error(ErrorCode::permission_denied,
                   "approval signature of validator " + key->hex() + " does not verify over this proposal");
    }
  }
  const auto count = static_cast<std::uint32_t>(action.approvals_size());
  if (count < set.quorum()) {
    return error(ErrorCode::permission_denied, std::to_string(count) + " valid approval" +
                                                   (count == 1 ? "" : "s") +
                                                   "; 2f+1 = " + std::to_string(set.quorum()) + " of the " +
                                                   std::to_string(set.size()) + " validators are needed");
  }
  return {};
}

}  // namespace

consensus::ValidatorSet GovernanceState::validator_set() const {
  std::vector<crypto::PublicKey> keys;
  keys.reserve(validators.size());
  for (const auto& v : validators) keys.push_back(v.pubkey);
  return consensus::ValidatorSet(std::move(keys));
}

bool is_set_change(const pb::GovernanceProposal& proposal) {
  switch (proposal.action_case()) {
    case pb::GovernanceProposal::kAddValidator:
    case pb::GovernanceProposal::kRemoveValidator:
    case pb::GovernanceProposal::kRotateValidatorKeys:
      return true;
    default:
      return false;
  }
}

Status validate_proposal(const pb::GovernanceProposal& proposal, std::string_view chain_id) {
  if (proposal.chain_id() != chain_id) {
    return invalid("proposal is for chain '" + proposal.chain_id() + "', not '" + std::string(chain_id) +
                   "'");
  }
  CL_TRY(proto::hash_field(proposal.validator_set_hash(), "validator_set_hash").status());
  if (proposal.memo().size() > governance_memo_bytes_max) {
    return invalid("memo is longer than " + std::to_string(governance_memo_bytes_max) + " bytes");
  }
  CL_TRY(validate_action_fields(proposal));
  if (is_set_change(proposal)) {
    if (proposal.effective_height() == 0) return invalid("a validator-set change needs an effective_height");
  } else if (proposal.effective_height() != 0) {
    return invalid("effective_height is only for validator-set changes; this action takes effect next block");
  }
  return {};
}

Result<std::vector<audit::GenesisValidator>> changed_validator_set(
    const std::vector<audit::GenesisValidator>& validators, const pb::GovernanceProposal& proposal) {
  // One rule set for the node and the auditor: audit::apply_set_change.
  audit::SetChangeProposal change;
  switch (proposal.action_case()) {
    case pb::GovernanceProposal::kAddValidator: {
      const auto& v = proposal.add_validator().validator();
      change.kind = audit::SetChangeKind::add_validator;
      change.added.name = v.name();
      change.added.pubkey = Hash32::from_span(as_bytes(v.pubkey()));
      change.added.tls_pubkey = Hash32::from_span(as_bytes(v.tls_pubkey()));
      change.added.p2p = v.p2p();
      break;
    }
    case pb::GovernanceProposal::kRemoveValidator:
      change.kind = audit::SetChangeKind::remove_validator;
      change.pubkey = Hash32::from_span(as_bytes(proposal.remove_validator().pubkey()));
      break;
    case pb::GovernanceProposal::kRotateValidatorKeys: {
      const auto& r = proposal.rotate_validator_keys();
      change.kind = audit::SetChangeKind::rotate_validator_keys;
      change.pubkey = Hash32::from_span(as_bytes(r.pubkey()));
      if (!r.new_pubkey().empty()) change.new_pubkey = Hash32::from_span(as_bytes(r.new_pubkey()));
      if (!r.new_tls_pubkey().empty())
        change.new_tls_pubkey = Hash32::from_span(as_bytes(r.new_tls_pubkey()));
      break;
    }
    default:
      return invalid("not a validator-set change");
  }
  return audit::apply_set_change(validators, change);
}

Result<CheckedGovernance> check_governance(const pb::GovernanceAction& action, std::string_view chain_id,
                                           const GovernanceState& state, std::uint64_t height,
                                           const BlockGovernance* in_block) {
  CheckedGovernance out;
  if (Status s = proto::decode_into(as_bytes(action.proposal()), out.proposal); !s.ok()) {
    return error(ErrorCode::invalid_argument, "governance proposal: " + s.message());
  }
  const pb::GovernanceProposal& p = out.proposal;
  out.proposal_hash = crypto::sha256(as_bytes(action.proposal()));
  CL_TRY(validate_proposal(p, chain_id));
  const consensus::ValidatorSet set = state.validator_set();
  if (p.validator_set_hash() != proto::to_field(set.hash())) {
    return invalid("proposal names validator set " + to_hex(as_bytes(p.validator_set_hash())) +
                   ", but the set in charge is " + set.hash().hex() + " (stale: propose again)");
  }
  if (state.applied_proposals.contains(out.proposal_hash) ||
      (in_block && in_block->proposals.contains(out.proposal_hash))) {
    return error(ErrorCode::already_exists, "this proposal was already applied");
  }
  if (is_set_change(p)) {
    if (p.effective_height() <= height) {
      return invalid("effective_height " + std::to_string(p.effective_height()) +
                     " is not after the height of the block that would carry it (" + std::to_string(height) +
                     ")");
    }
    if (p.effective_height() - height > effective_height_delay_max) {
      return invalid("effective_height is more than " + std::to_string(effective_height_delay_max) +
                     " blocks ahead");
    }
    if (state.pending_set_change_height || (in_block && in_block->set_change)) {
      return error(
          ErrorCode::invalid_argument,
          "another validator-set change is pending" +
              (state.pending_set_change_height
                   ? " (effective at height " + std::to_string(*state.pending_set_change_height) + ")"
                   : std::string(" in the same block")) +
              "; one change at a time");
    }
    CL_TRY(changed_validator_set(state.validators, p).status());
  }
  CL_TRY(check_approvals(action, chain_id, set));
  return out;
}

}  // namespace cityledger::node
