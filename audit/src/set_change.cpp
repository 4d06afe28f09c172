#include "audit/set_change.hpp"

#include <algorithm>
#include <set>

#include "crypto/sha256.hpp"
#include "wire.hpp"

namespace cityledger::audit {

namespace {

using namespace wire;

Status invalid(const std::string& message) { return error(ErrorCode::invalid_argument, message); }

Result<Hash32> bytes32(Reader& r, std::uint32_t wire_type, const char* name) {
  CL_TRY(expect_wire(wire_type, 2, name));
  auto b = r.bytes();
  if (!b) return b.status();
  return hash32(*b, name);
}

// ValidatorEntry {name = 1, pubkey = 2, tls_pubkey = 3, p2p = 4}: all four required.
Status decode_validator_entry(ByteSpan bytes, GenesisValidator& out) {
  Reader r(bytes);
  bool name = false, key = false, pin = false, p2p = false;
  while (!r.done()) {
    auto t = r.tag();
    if (!t) return t.status();
    auto [field, wire_type] = *t;
    if (field == 1 || field == 4) {
      auto s = nonempty_string(r, wire_type, field == 1 ? "validator name" : "validator p2p");
      if (!s) return s.status();
      (field == 1 ? out.name : out.p2p) = *s;
      (field == 1 ? name : p2p) = true;
    } else if (field == 2 || field == 3) {
      auto h = bytes32(r, wire_type, field == 2 ? "validator pubkey" : "validator tls_pubkey");
      if (!h) return h.status();
      (field == 2 ? out.pubkey : out.tls_pubkey) = *h;
      (field == 2 ? key : pin) = true;
    } else {
      return invalid("unknown field " + std::to_string(field) + " in validator entry");
    }
  }
  if (!(name && key && pin && p2p))
    return invalid("an added validator needs name, pubkey, tls_pubkey and p2p");
  return {};
}

Status decode_add(ByteSpan bytes, SetChangeProposal& out) {
  Reader r(bytes);
  bool have = false;
  while (!r.done()) {
    auto t = r.tag();
    if (!t) return t.status();
    auto [field, wire_type] = *t;
    if (field != 1) return invalid("unknown field " + std::to_string(field) + " in add_validator");
    CL_TRY(expect_wire(wire_type, 2, "add_validator.validator"));
    auto b = r.bytes();
    if (!b) return b.status();
    CL_TRY(decode_validator_entry(*b, out.added));
    have = true;
  }
  if (!have) return invalid("add_validator has no validator");
  return {};
}

// RemoveValidator {pubkey = 1}; RotateValidatorKeys {pubkey = 1, new_pubkey = 2, new_tls_pubkey = 3}.
Status decode_remove_or_rotate(ByteSpan bytes, bool rotate, SetChangeProposal& out) {
  Reader r(bytes);
  bool have_key = false;
  while (!r.done()) {
    auto t = r.tag();
    if (!t) return t.status();
    auto [field, wire_type] = *t;
    if (field == 1) {
      auto h = bytes32(r, wire_type, "pubkey");
      if (!h) return h.status();
      out.pubkey = *h;
      have_key = true;
    } else if (rotate && (field == 2 || field == 3)) {
      auto h = bytes32(r, wire_type, field == 2 ? "new_pubkey" : "new_tls_pubkey");
      if (!h) return h.status();
      (field == 2 ? out.new_pubkey : out.new_tls_pubkey) = *h;
    } else {
      return invalid("unknown field " + std::to_string(field) +
                     (rotate ? " in rotate_validator_keys" : " in remove_validator"));
    }
  }
  if (!have_key)
    return invalid(rotate ? "rotate_validator_keys has no pubkey" : "remove_validator has no pubkey");
  return {};
}

}  // namespace

Result<SetChangeProposal> decode_set_change_proposal(ByteSpan proposal_bytes) {
  SetChangeProposal out;
  Reader r(proposal_bytes);
  bool have_hash = false;
  bool have_action = false;
  while (!r.done()) {
    auto t = r.tag();
    if (!t) return t.status();
    auto [field, wire_type] = *t;
    if (have_action) return invalid("field " + std::to_string(field) + " after the action");
    switch (field) {
      case 1:
      case 4: {
        auto s = nonempty_string(r, wire_type, field == 1 ? "chain_id" : "memo");
        if (!s) return s.status();
        (field == 1 ? out.chain_id : out.memo) = *s;
        break;
      }
      case 2: {
        auto h = bytes32(r, wire_type, "validator_set_hash");
        if (!h) return h.status();
        out.validator_set_hash = *h;
        have_hash = true;
        break;
      }
      case 3: {
        auto v = nonzero_varint(r, wire_type, "effective_height");
        if (!v) return v.status();
        out.effective_height = *v;
        break;
      }
      case 10:
      case 11:
      case 12: {
        CL_TRY(expect_wire(wire_type, 2, "action"));
        auto b = r.bytes();
        if (!b) return b.status();
        if (field == 10) {
          out.kind = SetChangeKind::add_validator;
          CL_TRY(decode_add(*b, out));
        } else {
          out.kind = field == 11 ? SetChangeKind::remove_validator : SetChangeKind::rotate_validator_keys;
          CL_TRY(decode_remove_or_rotate(*b, field == 12, out));
        }
        have_action = true;
        break;
      }
      case 13:
      case 14:
        return invalid("the proposal's action (field " + std::to_string(field) +
                       ") is not a validator-set change");
      default:
        return invalid("unknown field " + std::to_string(field) + " in governance proposal");
    }
  }
  if (!have_hash) return invalid("proposal has no validator_set_hash");
  if (!have_action) return invalid("proposal has no validator-set change");
  return out;
}

Hash32 validator_set_hash(const std::vector<GenesisValidator>& validators) {
  crypto::Sha256 sha;
  for (const auto& v : validators) sha.update(v.pubkey.span());
  return sha.finish();
}

Result<std::vector<GenesisValidator>> apply_set_change(const std::vector<GenesisValidator>& validators,
                                                       const SetChangeProposal& change) {
  std::vector<GenesisValidator> out = validators;
  auto find = [&out](const crypto::PublicKey& key) {
    return std::find_if(out.begin(), out.end(), [&key](const auto& v) { return v.pubkey == key; });
  };
  switch (change.kind) {
    case SetChangeKind::add_validator:
      if (!crypto::is_valid_public_key(change.added.pubkey))
        return invalid("the added validator's pubkey is not a valid x-only public key");
      out.push_back(change.added);
      break;
    case SetChangeKind::remove_validator: {
      auto it = find(change.pubkey);
      if (it == out.end()) return invalid("the validator to remove is not in the current set");
      out.erase(it);
      break;
    }
    case SetChangeKind::rotate_validator_keys: {
      auto it = find(change.pubkey);
      if (it == out.end()) return invalid("the validator whose keys rotate is not in the current set");
      if (!change.new_pubkey && !change.new_tls_pubkey)
        return invalid("rotate_validator_keys changes nothing");
      if (change.new_pubkey) {
        if (!crypto::is_valid_public_key(*change.new_pubkey))
          return invalid("new_pubkey is not a valid x-only public key");
        it->pubkey = *change.new_pubkey;
      }
      if (change.new_tls_pubkey) it->tls_pubkey = *change.new_tls_pubkey;
      break;
    }
  }
  if (out.empty()) return invalid("the resulting validator set would be empty");
  std::set<Hash32> keys, pins;
  std::set<std::string> names;
  for (const auto& v : out) {
    if (!keys.insert(v.pubkey).second)
      return invalid("the resulting set has the consensus key " + v.pubkey.hex() + " twice");
    if (!pins.insert(v.tls_pubkey).second)
      return invalid("the resulting set has the TLS pin " + v.tls_pubkey.hex() + " twice");
    if (!names.insert(v.name).second) return invalid("the resulting set has the name '" + v.name + "' twice");
  }
  return out;
}

}  // namespace cityledger::audit
