#include "proto/contracts.hpp"

#include <map>

#include "crypto/schnorr.hpp"
#include "crypto/sha256.hpp"
#include "crypto/signing.hpp"
#include "proto/codec.hpp"
#include "proto/objects.hpp"

namespace cityledger::proto {

namespace {

Status invalid(std::string message) { return error(ErrorCode::invalid_argument, std::move(message)); }

bool is_name_char(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'; }

Status validate_key(const std::string& bytes, std::string_view what) {
  auto key = hash_field(bytes, what);
  if (!key) return key.status();
  if (!crypto::is_valid_public_key(*key))
    return invalid(std::string(what) + " is not a valid x-only public key");
  return {};
}

// Keys strictly ascending: canonical and free of duplicates.
template <typename List, typename KeyOf>
Status check_ascending(const List& list, KeyOf key_of, std::string_view what) {
  for (int i = 1; i < list.size(); ++i) {
    if (!(key_of(list[i - 1]) < key_of(list[i]))) {
      return invalid(std::string(what) + " must be in ascending order without duplicates");
    }
  }
  return {};
}

Status validate_registration(const pb::ContractRegistration& r) {
  CL_TRY(validate_contract_id(r.contract_id()));
  if (r.title().empty() || r.title().size() > max_contract_title_bytes) {
    return invalid("title must be 1.." + std::to_string(max_contract_title_bytes) + " bytes");
  }
  if (r.parties().empty() || static_cast<std::size_t>(r.parties_size()) > max_contract_parties) {
    return invalid("a contract has 1.." + std::to_string(max_contract_parties) + " parties");
  }
  std::map<std::string, int> key_owner;
  for (const auto& p : r.parties()) {
    CL_TRY(validate_contract_name(p.name(), "party name"));
    CL_TRY(validate_key(p.pubkey(), "party '" + p.name() + "' pubkey"));
    if (!key_owner.emplace(p.pubkey(), 0).second) return invalid("two parties have the same key");
  }
  CL_TRY(check_ascending(
      r.parties(), [](const auto& p) { return p.name(); }, "parties (by name)"));
  if (r.rules().empty() || static_cast<std::size_t>(r.rules_size()) > max_contract_rules) {
    return invalid("a contract has 1.." + std::to_string(max_contract_rules) + " rules");
  }
  for (const auto& rule : r.rules()) {
    CL_TRY(validate_contract_name(rule.event_kind(), "event kind"));
    const std::string where = "rule '" + rule.event_kind() + "': ";
    if (rule.parties().empty()) return invalid(where + "names no party");
    for (const auto& name : rule.parties()) {
      bool known = false;
      for (const auto& p : r.parties()) known = known || p.name() == name;
      if (!known) return invalid(where + "'" + name + "' is not a party of the contract");
    }
    if (Status s = check_ascending(
            rule.parties(), [](const auto& n) { return n; }, "parties");
        !s.ok()) {
      return invalid(where + s.message());
    }
  }
  return check_ascending(
      r.rules(), [](const auto& rule) { return rule.event_kind(); }, "rules (by event kind)");
}

Status validate_event(const pb::ContractEvent& e) {
  CL_TRY(validate_contract_id(e.contract_id()));
  CL_TRY(validate_contract_name(e.kind(), "event kind"));
  CL_TRY(hash_field(e.payload_hash(), "payload_hash").status());
  if (e.has_amount()) {
    const auto& m = e.amount();
    bool iso = m.currency().size() == 3;
    for (char c : m.currency()) iso = iso && c >= 'A' && c <= 'Z';
    if (!iso) return invalid("amount currency must be a three-letter ISO 4217 code such as EUR");
    if (m.scale() > max_money_scale)
      return invalid("amount scale must be 0.." + std::to_string(max_money_scale));
  } else if (e.kind() == event_kind_payment) {
    return invalid("a payment event needs an amount");
  }
  if (e.cost_shares().empty() && e.kind() == event_kind_cost_share) {
    return invalid("a cost-share event needs the parties' shares");
  }
  if (!e.cost_shares().empty()) {
    std::uint64_t total = 0;
    for (const auto& share : e.cost_shares()) {
      CL_TRY(validate_contract_name(share.party(), "cost share party"));
      total += share.basis_points();
    }
    CL_TRY(check_ascending(
        e.cost_shares(), [](const auto& s) { return s.party(); }, "cost shares (by party)"));
    if (total != 10'000) {
      return invalid("cost shares must sum to 10000 basis points (100%), not " + std::to_string(total));
    }
  }
  for (const auto& d : e.documents()) {
    CL_TRY(validate_contract_name(d.name(), "document name"));
    CL_TRY(hash_field(d.sha256(), "document '" + d.name() + "' sha256").status());
  }
  CL_TRY(check_ascending(
      e.documents(), [](const auto& d) { return d.name(); }, "documents (by name)"));
  for (const auto& f : e.fields()) {
    CL_TRY(validate_contract_name(f.name(), "field name"));
    if (f.value().size() > max_event_field_value_bytes) {
      return invalid("field '" + f.name() + "' is longer than " +
                     std::to_string(max_event_field_value_bytes) + " bytes");
    }
  }
  CL_TRY(check_ascending(
      e.fields(), [](const auto& f) { return f.name(); }, "fields (by name)"));
  for (const auto& s : e.sealed_fields()) {
    CL_TRY(validate_contract_name(s.name(), "sealed field name"));
    CL_TRY(hash_field(s.commitment(), "sealed field '" + s.name() + "' commitment").status());
    for (const auto& f : e.fields()) {
      if (f.name() == s.name()) return invalid("'" + s.name() + "' is both a field and a sealed field");
    }
  }
  return check_ascending(
      e.sealed_fields(), [](const auto& s) { return s.name(); }, "sealed fields (by name)");
}

}  // namespace

Status validate_contract_name(std::string_view name, std::string_view what) {
  bool ok = !name.empty() && name.size() <= max_contract_name_bytes;
  for (char c : name) ok = ok && is_name_char(c);
  if (!ok) {
    return invalid(std::string(what) + " '" + std::string(name) + "' must be 1.." +
                   std::to_string(max_contract_name_bytes) + " characters of a-z 0-9 _ -");
  }
  return {};
}

Status validate_contract_id(std::string_view id) {
  bool ok = !id.empty() && id.size() <= max_contract_id_bytes;
  for (char c : id) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                c == '_' || c == ':' || c == '-');
  }
  if (!ok) {
    return invalid("contract id must be 1.." + std::to_string(max_contract_id_bytes) +
                   " characters of A-Z a-z 0-9 . _ : -");
  }
  return {};
}

Status validate_contract_subject(const pb::ContractAction& action) {
  switch (action.action_case()) {
    case pb::ContractAction::kRegistration:
      return validate_registration(action.registration());
    case pb::ContractAction::kEvent:
      return validate_event(action.event());
    case pb::ContractAction::ACTION_NOT_SET:
      break;
  }
  return invalid("contract action is neither a registration nor an event");
}

Status validate_contract_action(const pb::ContractAction& action) {
  CL_TRY(validate_contract_subject(action));
  if (action.cosignatures().empty()) return invalid("contract action carries no co-signature");
  if (static_cast<std::size_t>(action.cosignatures_size()) > max_contract_parties) {
    return invalid("more co-signatures than a contract has parties");
  }
  for (const auto& c : action.cosignatures()) {
    CL_TRY(validate_key(c.signer(), "co-signer"));
    if (c.signature().size() != 64) return invalid("a co-signature must be 64 bytes");
  }
  CL_TRY(check_ascending(
      action.cosignatures(), [](const auto& c) { return c.signer(); }, "co-signatures (by signer)"));
  if (Status s = validate_anchor_entry(contract_anchor_entry(action)); !s.ok()) {
    return invalid("the action's log entry would be invalid: " + s.message());
  }
  return {};
}

Hash32 contract_cosign_digest(const pb::ContractAction& action, std::string_view chain_id) {
  if (action.has_registration()) {
    return crypto::signing_digest(crypto::purpose::contract_register, chain_id,
                                  as_bytes(encode(action.registration())));
  }
  return crypto::signing_digest(crypto::purpose::contract_event, chain_id, as_bytes(encode(action.event())));
}

Hash32 contract_subject_hash(const pb::ContractAction& action) {
  if (action.has_registration()) return hash_message(action.registration());
  return hash_message(action.event());
}

const std::string& contract_id_of(const pb::ContractAction& action) {
  return action.has_registration() ? action.registration().contract_id() : action.event().contract_id();
}

std::string format_money(const pb::Money& money) {
  const bool negative = money.units() < 0;
  // Magnitude without overflow at INT64_MIN.
  std::uint64_t magnitude =
      negative ? 0 - static_cast<std::uint64_t>(money.units()) : static_cast<std::uint64_t>(money.units());
  std::string digits = std::to_string(magnitude);
  const std::size_t scale = money.scale();
  if (scale > 0) {
    if (digits.size() <= scale) digits.insert(0, scale + 1 - digits.size(), '0');
    digits.insert(digits.size() - scale, ".");
  }
  return (negative ? "-" : "") + digits + " " + money.currency();
}

pb::AnchorEntry contract_anchor_entry(const pb::ContractAction& action) {
  pb::AnchorEntry entry;
  entry.set_content_hash(to_field(contract_subject_hash(action)));
  entry.set_dataset_id(contract_id_of(action));
  std::map<std::string, std::string> meta;  // ascending keys, as the canonical form wants
  if (action.has_registration()) {
    const auto& r = action.registration();
    entry.set_kind(pb::ENTRY_KIND_CONTRACT_REGISTRATION);
    meta["title"] = r.title();
    for (const auto& p : r.parties()) meta["party." + p.name()] = to_hex(as_bytes(p.pubkey()));
    for (const auto& rule : r.rules()) {
      std::string names;
      for (const auto& n : rule.parties()) names += (names.empty() ? "" : ",") + n;
      meta["rule." + rule.event_kind()] = names;
    }
  } else {
    const auto& e = action.event();
    entry.set_kind(pb::ENTRY_KIND_CONTRACT_EVENT);
    meta["kind"] = e.kind();
    meta["payload"] = to_hex(as_bytes(e.payload_hash()));
    if (e.has_amount()) meta["amount"] = format_money(e.amount());
    for (const auto& s : e.cost_shares()) meta["cost-share." + s.party()] = std::to_string(s.basis_points());
    for (const auto& d : e.documents()) meta["document." + d.name()] = to_hex(as_bytes(d.sha256()));
    for (const auto& f : e.fields()) meta["field." + f.name()] = f.value();
    for (const auto& s : e.sealed_fields()) meta["sealed." + s.name()] = to_hex(as_bytes(s.commitment()));
  }
  std::string cosigners;
  for (const auto& c : action.cosignatures()) {
    cosigners += (cosigners.empty() ? "" : ",") + to_hex(as_bytes(c.signer()));
  }
  meta["cosigners"] = cosigners;
  for (const auto& [k, v] : meta) {
    auto* field = entry.add_metadata();
    field->set_key(k);
    field->set_value(v);
  }
  return entry;
}

nlohmann::json contract_action_json(const pb::ContractAction& action) {
  using nlohmann::json;
  auto hex = [](const std::string& b) { return to_hex(as_bytes(b)); };
  json out;
  if (action.has_registration()) {
    const auto& r = action.registration();
    json parties = json::array();
    for (const auto& p : r.parties()) parties.push_back({{"name", p.name()}, {"pubkey", hex(p.pubkey())}});
    json rules = json::array();
    for (const auto& rule : r.rules()) {
      rules.push_back({{"event_kind", rule.event_kind()},
                       {"parties", std::vector<std::string>(rule.parties().begin(), rule.parties().end())}});
    }
    out = {{"type", "registration"},
           {"contract_id", r.contract_id()},
           {"title", r.title()},
           {"parties", parties},
           {"rules", rules}};
  } else if (action.has_event()) {
    const auto& e = action.event();
    out = {{"type", "event"},
           {"contract_id", e.contract_id()},
           {"kind", e.kind()},
           {"payload_hash", hex(e.payload_hash())}};
    if (e.has_amount()) {
      out["amount"] = {{"currency", e.amount().currency()},
                       {"units", e.amount().units()},
                       {"scale", e.amount().scale()},
                       {"text", format_money(e.amount())}};
    }
    json shares = json::array();
    for (const auto& s : e.cost_shares())
      shares.push_back({{"party", s.party()}, {"basis_points", s.basis_points()}});
    json documents = json::array();
    for (const auto& d : e.documents())
      documents.push_back({{"name", d.name()}, {"sha256", hex(d.sha256())}});
    json fields = json::object();
    for (const auto& f : e.fields()) fields[f.name()] = f.value();
    json sealed = json::object();
    for (const auto& s : e.sealed_fields()) sealed[s.name()] = hex(s.commitment());
    out["cost_shares"] = shares;
    out["documents"] = documents;
    out["fields"] = fields;
    out["sealed_fields"] = sealed;
  }
  out["subject_hash"] = contract_subject_hash(action).hex();
  json cosignatures = json::array();
  for (const auto& c : action.cosignatures()) {
    cosignatures.push_back({{"signer", hex(c.signer())}, {"signature", hex(c.signature())}});
  }
  out["cosignatures"] = cosignatures;
  return out;
}

}  // namespace cityledger::proto
