// `cityledger contract ...`: register PPP contracts, record their events with
// the parties' co-signatures (directly, or through a draft file each party
// co-signs offline), show them with their proofs, and reveal one sealed field.
// See docs/contracts.md.
#include <chrono>
#include <iostream>
#include <map>
#include <thread>

#include "audit/contracts.hpp"
#include "cli.hpp"
#include "crypto/random.hpp"
#include "crypto/schnorr.hpp"
#include "crypto/sha256.hpp"
#include "proto/codec.hpp"
#include "proto/contracts.hpp"
#include "proto/objects.hpp"

namespace cityledger::cli {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

constexpr const char* draft_format_v1 = "cityledger-contract-draft/1";
constexpr const char* salts_format_v1 = "cityledger-sealed-salts/1";
constexpr std::size_t file_limit_bytes = 4u << 20;

// "name=value" with a non-empty name.
Result<std::pair<std::string, std::string>> split_pair(const std::string& text, const std::string& flag) {
  const auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0) {
    return error(ErrorCode::invalid_argument, flag + " wants name=value, got \"" + text + "\"");
  }
  return std::make_pair(text.substr(0, eq), text.substr(eq + 1));
}

Result<Hash32> hex32(const std::string& text, const std::string& what) {
  auto h = Hash32::from_hex(text);
  if (!h) return error(ErrorCode::invalid_argument, what + " must be 64 hex digits, got \"" + text + "\"");
  return *h;
}

// "1250.00" -> {125000, 2}; at most 18 decimals, no exponent, optional '-'.
Result<pb::Money> parse_amount(const std::string& text, const std::string& currency) {
  pb::Money m;
  m.set_currency(currency);
  std::string digits;
  std::uint32_t scale = 0;
  bool negative = false, dot = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '-' && i == 0) {
      negative = true;
    } else if (c == '.' && !dot) {
      dot = true;
    } else if (c >= '0' && c <= '9') {
      digits += c;
      if (dot) ++scale;
    } else {
      digits.clear();
      break;
    }
  }
  if (digits.empty() || digits.size() > 18 || scale > proto::max_money_scale) {
    return error(ErrorCode::invalid_argument,
                 "--amount wants a decimal number such as 1250.00 (at most 18 digits), got \"" + text + "\"");
  }
  const std::int64_t units = std::stoll(digits);
  m.set_units(negative ? -units : units);
  m.set_scale(scale);
  return m;
}

// "60%", "33.33%" or "6000bp" -> basis points.
Result<std::uint32_t> parse_share(const std::string& text) {
  auto bad = [&text] {
    return error(ErrorCode::invalid_argument,
                 "--share wants party=60% (two decimals at most) or party=6000bp, got \"" + text + "\"");
  };
  std::string number;
  std::uint32_t scale_to_bp = 0;
  if (text.size() > 1 && text.back() == '%') {
    number = text.substr(0, text.size() - 1);
    scale_to_bp = 100;
  } else if (text.size() > 2 && text.ends_with("bp")) {
    number = text.substr(0, text.size() - 2);
    scale_to_bp = 1;
  } else {
    return bad();
  }
  const auto dot = number.find('.');
  std::string whole = number.substr(0, dot),
              fraction = dot == std::string::npos ? "" : number.substr(dot + 1);
  if (whole.empty() || whole.size() > 5 || (scale_to_bp == 1 && !fraction.empty()) || fraction.size() > 2)
    return bad();
  for (char c : whole + fraction) {
    if (c < '0' || c > '9') return bad();
  }
  while (fraction.size() < 2) fraction += '0';
  const std::uint64_t bp =
      scale_to_bp == 1 ? std::stoull(whole) : std::stoull(whole) * 100 + std::stoull(fraction);
  if (bp > 10'000) return bad();
  return static_cast<std::uint32_t>(bp);
}

Result<std::string> node_chain_id(rpc::RpcClient& client) {
  auto status = client.call("status");
  if (!status) return status.status();
  return (*status)["chain_id"].get<std::string>();
}

// Adds (or replaces) `key`'s co-signature, keeping them ascending by signer.
void add_cosignature(pb::ContractAction& action, const std::string& chain_id, const crypto::SecretKey& key) {
  const std::string signer = proto::to_field(key.public_key());
  const std::string signature = key.sign(proto::contract_cosign_digest(action, chain_id)).to_string();
  std::vector<pb::CoSignature> all;
  for (const auto& c : action.cosignatures()) {
    if (c.signer() != signer) all.push_back(c);
  }
  pb::CoSignature mine;
  mine.set_signer(signer);
  mine.set_signature(signature);
  all.push_back(mine);
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.signer() < b.signer(); });
  action.clear_cosignatures();
  for (auto& c : all) *action.add_cosignatures() = std::move(c);
}

json draft_json(const pb::ContractAction& action, const std::string& chain_id) {
  return {{"format", draft_format_v1},
          {"chain_id", chain_id},
          {"action", proto::contract_action_json(action)},
          {"action_hex", to_hex(as_bytes(proto::encode(action)))}};
}

struct Draft {
  std::string chain_id;
  pb::ContractAction action;
};

Result<Draft> read_draft(const std::string& path) {
  auto text = read_text_file(path, file_limit_bytes);
  if (!text) return text.status();
  const auto j = json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || j.value("format", "") != draft_format_v1 ||
      !j.contains("chain_id") || !j["chain_id"].is_string() || !j.contains("action_hex") ||
      !j["action_hex"].is_string()) {
    return error(ErrorCode::invalid_argument, path + " is not a contract draft (" + draft_format_v1 + ")");
  }
  auto raw = from_hex(j["action_hex"].get<std::string>());
  if (!raw) return error(ErrorCode::invalid_argument, path + ": action_hex is not hex");
  auto action = proto::decode<pb::ContractAction>(ByteSpan(raw->data(), raw->size()));
  if (!action) return error(ErrorCode::invalid_argument, path + ": " + action.status().message());
  // What a person reads in the draft is only a view: the bytes are what gets signed.
  return Draft{j["chain_id"].get<std::string>(), std::move(*action)};
}

// Signs `action` into a transaction with `key_path`'s account and submits it.
int submit_action(const Global& g, rpc::RpcClient& client, const pb::ContractAction& action,
                  const std::string& chain_id, const ContractSubmitOptions& o) {
  if (Status s = proto::validate_contract_action(action); !s.ok()) return fail("contract: " + s.message());
  if (o.key.empty())
    return fail("contract: --key (the submitting account, with the partner role) is required");
  auto key = crypto::read_key_file(o.key);
  if (!key) return fail(key.status());
  const std::string signer = key->public_key().hex();
  auto node_chain = node_chain_id(client);
  if (!node_chain) return fail(node_chain.status());
  if (*node_chain != chain_id) {
    return fail("contract: the draft is for chain '" + chain_id + "' but the node serves '" + *node_chain +
                "'");
  }
  auto nonce = next_nonce(client, signer, chain_id, "contract actions need an account with the partner role");
  if (!nonce) return fail("contract: " + nonce.status().message());
  pb::TxBody body;
  body.set_chain_id(chain_id);
  body.set_signer(proto::to_field(key->public_key()));
  body.set_nonce(*nonce);
  *body.mutable_contract() = action;
  const pb::Transaction tx = proto::sign_transaction(body, *key);
  auto r = submit_transaction(client, to_hex(as_bytes(proto::encode(tx))), o.wait, o.timeout_s);
  if (!r)
    return fail("contract: the node refused the " +
                std::string(action.has_registration() ? "registration" : "event") + ": " +
                r.status().message());
  json out = {{"tx_hash", proto::tx_hash(tx).hex()},
              {"contract_id", proto::contract_id_of(action)},
              {"content_hash", proto::contract_subject_hash(action).hex()},
              {"committed", r->contains("height")}};
  if (r->contains("height")) out["height"] = (*r)["height"];
  if (g.json) {
    print_json(out);
  } else {
    std::cout << (action.has_registration() ? "registration" : "event") << " of contract "
              << proto::contract_id_of(action) << ": tx " << out["tx_hash"].get<std::string>();
    if (out.contains("height")) {
      std::cout << " committed at height " << out["height"].get<std::uint64_t>();
    } else {
      std::cout << " submitted";
    }
    std::cout << "\n  content hash " << out["content_hash"].get<std::string>() << "\n";
  }
  return exit_ok;
}

// Co-signs with the given keys, then writes a draft or signs and submits.
int finish(const Global& g, pb::ContractAction action, const ContractSubmitOptions& o, const char* what) {
  if (Status s = proto::validate_contract_subject(action); !s.ok()) {
    return fail(std::string(what) + ": " + s.message());
  }
  rpc::RpcClient client(g.rpc_url);
  std::string chain_id = o.chain_id;
  if (chain_id.empty()) {
    auto id = node_chain_id(client);
    if (!id) return fail(id.status());
    chain_id = *id;
  }
  for (const auto& path : o.cosign_keys) {
    auto key = crypto::read_key_file(path);
    if (!key) return fail(key.status());
    add_cosignature(action, chain_id, *key);
  }
  if (o.out.empty()) return submit_action(g, client, action, chain_id, o);
  if (Status s = write_file_atomic(o.out, draft_json(action, chain_id).dump(2) + "\n"); !s.ok())
    return fail(s);
  if (g.json) {
    print_json({{"draft", o.out}, {"content_hash", proto::contract_subject_hash(action).hex()}});
  } else {
    std::cout << "draft written to " << o.out << " with " << action.cosignatures_size()
              << " co-signature(s): each party adds its own with `cityledger contract cosign`, then "
                 "`cityledger contract submit` sends it\n";
  }
  return exit_ok;
}

}  // namespace

int run_contract_register(const Global& g, const ContractRegisterOptions& o) {
  pb::ContractAction action;
  auto* r = action.mutable_registration();
  r->set_contract_id(o.id);
  r->set_title(o.title);
  std::map<std::string, std::string> parties;
  for (const auto& text : o.parties) {
    auto kv = split_pair(text, "--party");
    if (!kv) return fail(kv.status());
    auto key = hex32(kv->second, "--party " + kv->first + " public key");
    if (!key) return fail(key.status());
    if (!parties.emplace(kv->first, key->to_string()).second)
      return fail("--party " + kv->first + " given twice");
  }
  for (const auto& [name, key] : parties) {
    auto* p = r->add_parties();
    p->set_name(name);
    p->set_pubkey(key);
  }
  std::map<std::string, std::set<std::string>> rules;
  for (const auto& text : o.rules) {
    auto kv = split_pair(text, "--rule");
    if (!kv) return fail(kv.status());
    std::set<std::string> names;
    std::size_t start = 0;
    while (start <= kv->second.size()) {
      const auto comma = kv->second.find(',', start);
      const std::string name =
          kv->second.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      if (!name.empty()) names.insert(name);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    if (!rules.emplace(kv->first, std::move(names)).second)
      return fail("--rule " + kv->first + " given twice");
  }
  for (const auto& [kind, names] : rules) {
    auto* rule = r->add_rules();
    rule->set_event_kind(kind);
    for (const auto& n : names) rule->add_parties(n);
  }
  return finish(g, std::move(action), o.submit, "contract register");
}

int run_contract_event(const Global& g, const ContractEventOptions& o) {
  pb::ContractAction action;
  auto* e = action.mutable_event();
  e->set_contract_id(o.id);
  e->set_kind(o.kind);
  if (o.payload_file.empty() == o.payload_hash.empty()) {
    return fail("contract event: give exactly one of --payload-file and --payload-hash");
  }
  if (!o.payload_file.empty()) {
    auto digest = crypto::sha256_file(o.payload_file);
    if (!digest) return fail(digest.status());
    e->set_payload_hash(proto::to_field(*digest));
  } else {
    auto h = hex32(o.payload_hash, "--payload-hash");
    if (!h) return fail(h.status());
    e->set_payload_hash(proto::to_field(*h));
  }
  if (!o.amount.empty() || !o.currency.empty()) {
    if (o.amount.empty() || o.currency.empty())
      return fail("contract event: --amount needs --currency and back");
    auto money = parse_amount(o.amount, o.currency);
    if (!money) return fail(money.status());
    *e->mutable_amount() = *money;
  }
  std::map<std::string, std::uint32_t> shares;
  for (const auto& text : o.shares) {
    auto kv = split_pair(text, "--share");
    if (!kv) return fail(kv.status());
    auto bp = parse_share(kv->second);
    if (!bp) return fail(bp.status());
    if (!shares.emplace(kv->first, *bp).second) return fail("--share " + kv->first + " given twice");
  }
  for (const auto& [party, bp] : shares) {
    auto* s = e->add_cost_shares();
    s->set_party(party);
    s->set_basis_points(bp);
  }
  std::map<std::string, Hash32> documents;
  for (const auto& text : o.documents) {
    auto kv = split_pair(text, "--doc");
    if (!kv) return fail(kv.status());
    Result<Hash32> digest = kv->second.starts_with("sha256:")
                                ? hex32(kv->second.substr(7), "--doc " + kv->first)
                                : crypto::sha256_file(kv->second);
    if (!digest) return fail(digest.status());
    if (!documents.emplace(kv->first, *digest).second) return fail("--doc " + kv->first + " given twice");
  }
  for (const auto& [name, digest] : documents) {
    auto* d = e->add_documents();
    d->set_name(name);
    d->set_sha256(proto::to_field(digest));
  }
  std::map<std::string, std::string> fields, sealed;
  for (const auto& text : o.fields) {
    auto kv = split_pair(text, "--field");
    if (!kv) return fail(kv.status());
    if (!fields.emplace(kv->first, kv->second).second) return fail("--field " + kv->first + " given twice");
  }
  for (const auto& text : o.sealed) {
    auto kv = split_pair(text, "--sealed");
    if (!kv) return fail(kv.status());
    if (!sealed.emplace(kv->first, kv->second).second) return fail("--sealed " + kv->first + " given twice");
  }
  for (const auto& [name, value] : fields) {
    auto* f = e->add_fields();
    f->set_name(name);
    f->set_value(value);
  }
  if (!sealed.empty() && o.salts_out.empty()) {
    return fail(
        "contract event: --sealed needs --salts-out FILE: without the salts nobody can ever reveal the "
        "field");
  }
  json salts = json::object();
  for (const auto& [name, value] : sealed) {
    if (Status s = proto::validate_contract_name(name, "sealed field name"); !s.ok()) return fail(s);
    auto salt = crypto::random_hash32();
    if (!salt) return fail(salt.status());
    auto* f = e->add_sealed_fields();
    f->set_name(name);
    f->set_commitment(proto::to_field(audit::sealed_field_commitment(*salt, name, value)));
    salts[name] = {{"value", value}, {"salt", salt->hex()}};
  }
  if (!sealed.empty()) {
    // Written before anything is sent: a crash after submitting keeps the salts.
    const json doc = {{"format", salts_format_v1},
                      {"contract_id", o.id},
                      {"content_hash", proto::contract_subject_hash(action).hex()},
                      {"fields", salts}};
    if (Status s = write_file_atomic(o.salts_out, doc.dump(2) + "\n", 0600); !s.ok()) return fail(s);
  }
  return finish(g, std::move(action), o.submit, "contract event");
}

int run_contract_cosign(const Global& g, const std::string& key_path, const std::string& draft_path) {
  auto draft = read_draft(draft_path);
  if (!draft) return fail(draft.status());
  auto key = crypto::read_key_file(key_path);
  if (!key) return fail(key.status());
  if (Status s = proto::validate_contract_subject(draft->action); !s.ok()) {
    return fail("contract cosign: " + draft_path + ": " + s.message());
  }
  add_cosignature(draft->action, draft->chain_id, *key);
  if (Status s = write_file_atomic(draft_path, draft_json(draft->action, draft->chain_id).dump(2) + "\n");
      !s.ok())
    return fail(s);
  // Show what was signed, decoded from the bytes themselves.
  json view = proto::contract_action_json(draft->action);
  view.erase("cosignatures");
  if (g.json) {
    print_json({{"signed", view},
                {"signer", key->public_key().hex()},
                {"cosignatures", draft->action.cosignatures_size()}});
  } else {
    std::cout << "co-signed as " << key->public_key().hex() << " on chain " << draft->chain_id << ":\n"
              << view.dump(2) << "\n"
              << draft->action.cosignatures_size() << " co-signature(s) in " << draft_path << "\n";
  }
  return exit_ok;
}

int run_contract_submit(const Global& g, const std::string& draft_path, const ContractSubmitOptions& o) {
  auto draft = read_draft(draft_path);
  if (!draft) return fail(draft.status());
  rpc::RpcClient client(g.rpc_url);
  return submit_action(g, client, draft->action, draft->chain_id, o);
}

int run_contract_show(const Global& g, const std::string& id) {
  rpc::RpcClient client(g.rpc_url);
  auto c = client.call("get_contract", {{"contract_id", id}});
  if (!c) return fail(c.status());
  if (g.json) {
    print_json(*c);
    return exit_ok;
  }
  std::cout << "contract " << id << ": " << (*c)["title"].get<std::string>() << "\n"
            << "  registered at height " << (*c)["registered"]["height"] << ", leaf "
            << (*c)["registered"]["leaf_index"] << ", tx " << (*c)["registered"]["tx_hash"].get<std::string>()
            << "\n  parties\n";
  std::size_t width = 0;
  for (const auto& p : (*c)["parties"]) width = std::max(width, p["name"].get<std::string>().size());
  for (const auto& p : (*c)["parties"]) {
    const auto name = p["name"].get<std::string>();
    std::cout << "    " << name << std::string(width - name.size() + 2, ' ') << p["pubkey"].get<std::string>()
              << "\n";
  }
  std::cout << "  rules (event kind: who must co-sign)\n";
  for (const auto& r : (*c)["rules"]) {
    std::string names;
    for (const auto& n : r["parties"]) names += (names.empty() ? "" : ", ") + n.get<std::string>();
    std::cout << "    " << r["event_kind"].get<std::string>() << ": " << names << "\n";
  }
  std::cout << "  events " << (*c)["events"] << "\n";
  return exit_ok;
}

int run_contract_events(const Global& g, const std::string& id, const std::string& proof_dir) {
  rpc::RpcClient client(g.rpc_url);
  json all = json::array();
  for (std::uint64_t from = 0;;) {
    auto page = client.call("get_contract_events", {{"contract_id", id}, {"from", from}, {"limit", 1000}});
    if (!page) return fail(page.status());
    for (auto& e : (*page)["events"]) all.push_back(std::move(e));
    from = all.size();
    if ((*page)["events"].empty() || from >= (*page)["total"].get<std::uint64_t>()) break;
  }
  if (!proof_dir.empty()) {
    std::error_code ec;
    fs::create_directories(proof_dir, ec);
    if (ec) return fail("contract events: cannot create " + proof_dir + ": " + ec.message());
    std::vector<std::uint64_t> leaves;
    for (const auto& e : all) leaves.push_back(e["leaf_index"].get<std::uint64_t>());
    ProofFetch fetch(std::move(leaves));
    fetch.ask(client);
    for (std::size_t i = 0; i < all.size(); ++i) {
      auto& e = all[i];
      auto& bundle = fetch.bundles[i];
      if (!bundle) {
        return fail("contract events: no proof yet for event " +
                    std::to_string(e["sequence"].get<std::uint64_t>()) + ": " + bundle.status().message());
      }
      const fs::path out =
          fs::path(proof_dir) /
          (id + "-event-" + std::to_string(e["sequence"].get<std::uint64_t>()) + ".proof.json");
      if (Status s = write_file_atomic(out, bundle->dump(2) + "\n"); !s.ok()) return fail(s);
      e["proof"] = out.string();
    }
  }
  if (g.json) {
    print_json({{"contract_id", id}, {"events", all}});
    return exit_ok;
  }
  for (const auto& e : all) {
    const auto& ev = e["event"];
    std::cout << "#" << e["sequence"] << "  " << e["kind"].get<std::string>() << "  height " << e["height"]
              << "  leaf " << e["leaf_index"];
    if (ev.contains("amount")) std::cout << "  " << ev["amount"]["text"].get<std::string>();
    std::cout << "\n    content hash " << e["content_hash"].get<std::string>() << "\n    payload      "
              << ev["payload_hash"].get<std::string>() << "\n";
    for (const auto& s : ev["cost_shares"]) {
      std::cout << "    share        " << s["party"].get<std::string>() << " "
                << s["basis_points"].get<std::uint32_t>() / 100 << "."
                << (s["basis_points"].get<std::uint32_t>() % 100 < 10 ? "0" : "")
                << s["basis_points"].get<std::uint32_t>() % 100 << "%\n";
    }
    for (const auto& [k, v] : ev["fields"].items())
      std::cout << "    field        " << k << " = " << v.get<std::string>() << "\n";
    for (const auto& [k, v] : ev["sealed_fields"].items())
      std::cout << "    sealed       " << k << " (committed: " << v.get<std::string>().substr(0, 16)
                << "…)\n";
    for (const auto& d : ev["documents"])
      std::cout << "    document     " << d["name"].get<std::string>() << " "
                << d["sha256"].get<std::string>() << "\n";
    std::string signers;
    for (const auto& c : ev["cosignatures"])
      signers += (signers.empty() ? "" : ", ") + c["signer"].get<std::string>().substr(0, 16) + "…";
    std::cout << "    co-signed by " << signers << "\n";
    if (e.contains("proof")) std::cout << "    proof        " << e["proof"].get<std::string>() << "\n";
  }
  if (all.empty()) std::cout << "no events yet\n";
  return exit_ok;
}

int run_contract_reveal(const Global& g, const ContractRevealOptions& o) {
  auto text = read_text_file(o.salts, file_limit_bytes);
  if (!text) return fail(text.status());
  const auto salts = json::parse(*text, nullptr, false);
  if (salts.is_discarded() || !salts.is_object() || salts.value("format", "") != salts_format_v1 ||
      !salts.contains("fields") || !salts["fields"].is_object()) {
    return fail("contract reveal: " + o.salts + " is not a salts file (" + salts_format_v1 + ")");
  }
  if (!salts["fields"].contains(o.field))
    return fail("contract reveal: " + o.salts + " has no sealed field '" + o.field + "'");
  const auto& f = salts["fields"][o.field];
  rpc::RpcClient client(g.rpc_url);
  auto bundle = client.call("get_inclusion_proof", {{"content_hash", salts.value("content_hash", "")}});
  if (!bundle) return fail("contract reveal: no proof of the event yet: " + bundle.status().message());
  const json reveal = {{"format", audit::reveal_format_v1},
                       {"contract_id", salts.value("contract_id", "")},
                       {"field", o.field},
                       {"value", f.value("value", "")},
                       {"salt", f.value("salt", "")},
                       {"bundle", *bundle}};
  if (Status s = write_file_atomic(o.out, reveal.dump(2) + "\n"); !s.ok()) return fail(s);
  if (g.json) {
    print_json({{"reveal", o.out}, {"field", o.field}});
  } else {
    std::cout << "reveal of '" << o.field << "' written to " << o.out
              << "; anyone can check it with `cityledger verify --genesis genesis.json --reveal " << o.out
              << "`\n";
  }
  return exit_ok;
}

}  // namespace cityledger::cli
