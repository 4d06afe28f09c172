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

void ContractBook::export_to(pb::StateSnapshot& snapshot) const {
  std::shared_lock lock(mutex_);
  for (const auto& [id, record] : contracts_) {
    auto* c = snapshot.add_contracts();
    *c->mutable_registration() = record.registration;
    c->set_height(record.height);
    c->set_leaf_index(record.leaf_index);
    c->set_tx_hash(record.tx_hash.to_string());
    for (const auto& e : record.events) {
      auto* event = c->add_events();
      event->set_subject_hash(e.subject_hash.to_string());
      event->set_kind(e.kind);
      event->set_height(e.height);
      event->set_leaf_index(e.leaf_index);
      event->set_tx_hash(e.tx_hash.to_string());
    }
  }
}

Status ContractBook::restore(const pb::StateSnapshot& snapshot) {
  std::map<std::string, ContractRecord> contracts;
  std::unordered_set<Hash32, Hash32Hasher> event_hashes;
  auto hash = [](const std::string& bytes, const char* what) -> Result<Hash32> {
    if (bytes.size() != 32)
      return error(ErrorCode::invalid_argument, std::string("snapshot: ") + what + " is not 32 bytes");
    return Hash32::from_span(as_bytes(bytes));
  };
  for (const auto& c : snapshot.contracts()) {
    ContractRecord record;
    record.registration = c.registration();
    record.height = c.height();
    record.leaf_index = c.leaf_index();
    auto tx = hash(c.tx_hash(), "a contract's tx_hash");
    if (!tx) return tx.status();
    record.tx_hash = *tx;
    for (const auto& e : c.events()) {
      auto subject = hash(e.subject_hash(), "an event's subject_hash");
      if (!subject) return subject.status();
      auto event_tx = hash(e.tx_hash(), "an event's tx_hash");
      if (!event_tx) return event_tx.status();
      record.events.push_back({*subject, e.kind(), e.height(), e.leaf_index(), *event_tx});
      event_hashes.insert(*subject);
    }
    if (!contracts.emplace(c.registration().contract_id(), std::move(record)).second) {
      return error(ErrorCode::invalid_argument,
                   "snapshot: contract '" + c.registration().contract_id() + "' is listed twice");
    }
  }
  std::unique_lock lock(mutex_);
  contracts_ = std::move(contracts);
  event_hashes_ = std::move(event_hashes);
  return {};
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
