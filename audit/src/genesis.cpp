#include "audit/genesis.hpp"

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "crypto/sha256.hpp"

namespace cityledger::audit {

using nlohmann::json;

bool is_known_role(const std::string& role) {
  return role == role_validator || role == role_admin || role == role_submitter || role == role_partner;
}

Status validate_chain_id(std::string_view chain_id) {
  if (chain_id.empty() || chain_id.size() > 64) {
    return error(ErrorCode::invalid_argument, "chain id must be 1 to 64 characters");
  }
  for (char c : chain_id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) return error(ErrorCode::invalid_argument, "chain id may hold only a-z, 0-9, '.', '_' and '-'");
  }
  return {};
}

namespace {

Status check_keys(const json& object, const std::set<std::string>& allowed, const std::string& where) {
  if (!object.is_object()) return error(ErrorCode::invalid_argument, where + " must be a JSON object");
  for (const auto& [key, value] : object.items()) {
    if (!allowed.contains(key))
      return error(ErrorCode::invalid_argument, where + ": unknown field '" + key + "'");
  }
  for (const auto& key : allowed) {
    if (!object.contains(key))
      return error(ErrorCode::invalid_argument, where + ": missing field '" + key + "'");
  }
  return {};
}

Result<std::string> get_string(const json& object, const std::string& key, const std::string& where) {
  const auto& v = object.at(key);
  if (!v.is_string()) return error(ErrorCode::invalid_argument, where + "." + key + " must be a string");
  return v.get<std::string>();
}

Result<Hash32> get_key(const json& object, const std::string& key, const std::string& where) {
  auto text = get_string(object, key, where);
  if (!text) return text.status();
  auto h = Hash32::from_hex(*text);
  if (!h || text->find_first_of("ABCDEF") != std::string::npos) {
    return error(ErrorCode::invalid_argument, where + "." + key + " must be 64 lowercase hex characters");
  }
  return *h;
}

}  // namespace

Result<Genesis> Genesis::parse(std::string_view text) {
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return error(ErrorCode::invalid_argument, "genesis: not valid JSON");
  CL_TRY(check_keys(doc, {"chain_id", "genesis_time", "validators", "accounts"}, "genesis"));
  Genesis g;
  auto chain = get_string(doc, "chain_id", "genesis");
  if (!chain) return chain.status();
  g.chain_id = *chain;
  if (Status s = validate_chain_id(g.chain_id); !s.ok()) return error(s.code(), "genesis: " + s.message());
  auto time = get_string(doc, "genesis_time", "genesis");
  if (!time) return time.status();
  g.genesis_time = *time;

  if (!doc["validators"].is_array() || doc["validators"].empty()) {
    return error(ErrorCode::invalid_argument, "genesis: validators must be a non-empty array");
  }
  std::set<Hash32> seen_keys;
  std::set<std::string> seen_names;
  for (std::size_t i = 0; i < doc["validators"].size(); ++i) {
    const json& v = doc["validators"][i];
    const std::string where = "genesis.validators[" + std::to_string(i) + "]";
    CL_TRY(check_keys(v, {"name", "pubkey", "tls_pubkey", "p2p"}, where));
    GenesisValidator out;
    auto name = get_string(v, "name", where);
    if (!name) return name.status();
    auto pubkey = get_key(v, "pubkey", where);
    if (!pubkey) return pubkey.status();
    auto tls = get_key(v, "tls_pubkey", where);
    if (!tls) return tls.status();
    auto p2p = get_string(v, "p2p", where);
    if (!p2p) return p2p.status();
    if (!crypto::is_valid_public_key(*pubkey)) {
      return error(ErrorCode::invalid_argument, where + ".pubkey is not a valid BIP340 public key");
    }
    if (!seen_keys.insert(*pubkey).second)
      return error(ErrorCode::invalid_argument, where + ": duplicate pubkey");
    if (!seen_names.insert(*name).second)
      return error(ErrorCode::invalid_argument, where + ": duplicate name");
    out.name = *name;
    out.pubkey = *pubkey;
    out.tls_pubkey = *tls;
    out.p2p = *p2p;
    g.validators.push_back(std::move(out));
  }

  if (!doc["accounts"].is_array())
    return error(ErrorCode::invalid_argument, "genesis: accounts must be an array");
  std::set<Hash32> seen_accounts;
  for (std::size_t i = 0; i < doc["accounts"].size(); ++i) {
    const json& a = doc["accounts"][i];
    const std::string where = "genesis.accounts[" + std::to_string(i) + "]";
    CL_TRY(check_keys(a, {"pubkey", "roles"}, where));
    GenesisAccount out;
    auto pubkey = get_key(a, "pubkey", where);
    if (!pubkey) return pubkey.status();
    if (!crypto::is_valid_public_key(*pubkey)) {
      return error(ErrorCode::invalid_argument, where + ".pubkey is not a valid BIP340 public key");
    }
    if (!seen_accounts.insert(*pubkey).second) {
      return error(ErrorCode::invalid_argument, where + ": duplicate account");
    }
    out.pubkey = *pubkey;
    if (!a["roles"].is_array()) return error(ErrorCode::invalid_argument, where + ".roles must be an array");
    for (const auto& r : a["roles"]) {
      if (!r.is_string() || !is_known_role(r.get<std::string>())) {
        return error(ErrorCode::invalid_argument,
                     where + ": unknown role " + r.dump() + " (known: validator, admin, submitter, partner)");
      }
      out.roles.push_back(r.get<std::string>());
    }
    g.accounts.push_back(std::move(out));
  }
  g.hash = crypto::sha256(text);
  return g;
}

Result<Genesis> Genesis::load(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return error(ErrorCode::io_error, "cannot open genesis file " + path.string());
  std::stringstream buffer;
  buffer << in.rdbuf();
  auto g = parse(buffer.str());
  if (!g) return error(g.status().code(), path.string() + ": " + g.status().message());
  return g;
}

std::string Genesis::to_json() const {
  nlohmann::ordered_json doc;
  doc["chain_id"] = chain_id;
  doc["genesis_time"] = genesis_time;
  doc["validators"] = nlohmann::ordered_json::array();
  for (const auto& v : validators) {
    doc["validators"].push_back(
        {{"name", v.name}, {"pubkey", v.pubkey.hex()}, {"tls_pubkey", v.tls_pubkey.hex()}, {"p2p", v.p2p}});
  }
  doc["accounts"] = nlohmann::ordered_json::array();
  for (const auto& a : accounts) doc["accounts"].push_back({{"pubkey", a.pubkey.hex()}, {"roles", a.roles}});
  return doc.dump(2) + "\n";
}

}  // namespace cityledger::audit
