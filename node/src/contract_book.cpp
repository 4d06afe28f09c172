#include "node/contract_book.hpp"

#include <mutex>

#include "crypto/schnorr.hpp"
#include "proto/contracts.hpp"
#include "proto/objects.hpp"

namespace cityledger::node {

namespace {

const pb::ContractParty* party_with_key(const pb::ContractRegistration& r, const std::string& key) {
  for (const auto& p : r.parties()) {
    if (p.pubkey() == key) return &p;
  }
  return nullptr;
}

Status verify_cosignatures(const pb::ContractAction& action, const std::string& chain_id) {
  const Hash32 digest = proto::contract_cosign_digest(action, chain_id);
  for (const auto& c : action.cosignatures()) {
    const auto key = Hash32::from_span(as_bytes(c.signer()));
    if (!crypto::verify(key, digest, as_bytes(c.signature()))) {
      return error(ErrorCode::permission_denied, "the co-signature of " + key.hex() + " does not verify");
    }
  }
  return {};
}

}  // namespace

ContractBook::ContractBook(std::string chain_id) : chain_id_(std::move(chain_id)) {}

Status ContractBook::check(const pb::ContractAction& action, bool verify_signatures,
                           ContractScratch* scratch) const {
  {
    std::shared_lock lock(mutex_);
    CL_TRY(check_locked(action, verify_signatures, scratch));
  }
  if (scratch) {
    if (action.has_registration()) {
      scratch->registered.insert(action.registration().contract_id());
    } else {
      scratch->events.insert(proto::contract_subject_hash(action));
    }
  }
  return {};
}

Status ContractBook::check_locked(const pb::ContractAction& action, bool verify_signatures,
                                  const ContractScratch* scratch) const {
  const std::string& id = proto::contract_id_of(action);
  if (action.has_registration()) {
    const auto& r = action.registration();
    if (contracts_.contains(id) || (scratch && scratch->registered.contains(id))) {
      return error(ErrorCode::already_exists, "contract '" + id + "' is already registered");
    }
    // Every party agrees to the contract's parties and rules: nobody is made a
    // party, or bound by a rule, without its own signature.
    for (const auto& p : r.parties()) {
      bool signed_it = false;
      for (const auto& c : action.cosignatures()) signed_it = signed_it || c.signer() == p.pubkey();
      if (!signed_it) {
        return error(ErrorCode::permission_denied,
                     "registration lacks the co-signature of party '" + p.name() + "'");
      }
    }
    for (const auto& c : action.cosignatures()) {
      if (!party_with_key(r, c.signer())) {
        return error(ErrorCode::permission_denied,
                     "co-signer " + to_hex(as_bytes(c.signer())) + " is not a party of the contract");
      }
    }
    return verify_signatures ? verify_cosignatures(action, chain_id_) : Status{};
  }

  const auto& e = action.event();
  auto it = contracts_.find(id);
  if (it == contracts_.end()) {
    return error(ErrorCode::not_found, "contract '" + id + "' is not registered (or not yet committed)");
  }
  const auto& r = it->second.registration;
  const pb::CoSignRule* rule = nullptr;
  for (const auto& candidate : r.rules()) {
    if (candidate.event_kind() == e.kind()) rule = &candidate;
  }
  if (!rule) {
    return error(ErrorCode::invalid_argument,
                 "contract '" + id + "' has no rule for events of kind '" + e.kind() + "'");
  }
  for (const auto& c : action.cosignatures()) {
    if (!party_with_key(r, c.signer())) {
      return error(ErrorCode::permission_denied,
                   "co-signer " + to_hex(as_bytes(c.signer())) + " is not a party of contract '" + id + "'");
    }
  }
  for (const auto& name : rule->parties()) {
    const pb::ContractParty* party = nullptr;
    for (const auto& p : r.parties()) {
      if (p.name() == name) party = &p;
    }
    bool signed_it = false;
    for (const auto& c : action.cosignatures())
      signed_it = signed_it || (party && c.signer() == party->pubkey());
    if (!signed_it) {
      return error(ErrorCode::permission_denied, "a '" + e.kind() + "' event of contract '" + id +
                                                     "' needs the co-signature of '" + name + "'");
    }
  }
  for (const auto& share : e.cost_shares()) {
    bool known = false;
    for (const auto& p : r.parties()) known = known || p.name() == share.party();
    if (!known) {
      return error(ErrorCode::invalid_argument,
                   "cost share for '" + share.party() + "', who is not a party of contract '" + id + "'");
    }
  }
  const Hash32 subject = proto::contract_subject_hash(action);
  if (event_hashes_.contains(subject) || (scratch && scratch->events.contains(subject))) {
    return error(ErrorCode::already_exists, "this exact event of contract '" + id + "' is already anchored");
  }
  return verify_signatures ? verify_cosignatures(action, chain_id_) : Status{};
}

void ContractBook::apply(const pb::ContractAction& action, std::uint64_t height, std::uint64_t leaf_index,
                         const Hash32& tx_hash) {
  std::unique_lock lock(mutex_);
  if (action.has_registration()) {
    ContractRecord record;
    record.registration = action.registration();
    record.height = height;
    record.leaf_index = leaf_index;
    record.tx_hash = tx_hash;
    contracts_.emplace(action.registration().contract_id(), std::move(record));
    return;
  }
  auto it = contracts_.find(action.event().contract_id());
  if (it == contracts_.end()) return;  // committed blocks were validated: cannot happen
  const Hash32 subject = proto::contract_subject_hash(action);
  it->second.events.push_back({subject, action.event().kind(), height, leaf_index, tx_hash});
  event_hashes_.insert(subject);
}

std::optional<ContractRecord> ContractBook::contract(const std::string& id) const {
  std::shared_lock lock(mutex_);
  auto it = contracts_.find(id);
  if (it == contracts_.end()) return std::nullopt;
  return it->second;
}

std::vector<std::string> ContractBook::ids() const {
  std::shared_lock lock(mutex_);
  std::vector<std::string> out;
  out.reserve(contracts_.size());
  for (const auto& [id, record] : contracts_) out.push_back(id);
  return out;
}

std::size_t ContractBook::size() const {
  std::shared_lock lock(mutex_);
  return contracts_.size();
}

}  // namespace cityledger::node
