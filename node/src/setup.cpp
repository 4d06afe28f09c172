#include "node/setup.hpp"

#include <arpa/inet.h>

#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>

#include "crypto/schnorr.hpp"
#include "node/tls_identity.hpp"

namespace cityledger::node {

namespace fs = std::filesystem;

std::string utc_now_rfc3339() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

namespace {

Status write_file(const fs::path& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  out.flush();
  if (!out) return error(ErrorCode::io_error, "cannot write " + path.string());
  return {};
}

Status make_private_dir(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return error(ErrorCode::io_error, "cannot create " + dir.string() + ": " + ec.message());
  fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  if (ec)
    return error(ErrorCode::io_error, "cannot set permissions on " + dir.string() + ": " + ec.message());
  return {};
}

Result<crypto::PublicKey> new_key_file(const fs::path& path) {
  auto key = crypto::SecretKey::generate();
  if (!key) return key.status();
  CL_TRY(crypto::write_key_file(path, *key));
  return key->public_key();
}

// A DNS name or an IPv4 address (letters, digits, '.', '-'), or a bracketed
// IPv6 address: what may stand before ":port" in genesis.json.
bool valid_host(const std::string& host) {
  if (host.empty() || host.size() > 253) return false;
  if (host.front() == '[') {
    if (host.back() != ']') return false;
    const std::string inside = host.substr(1, host.size() - 2);
    in6_addr unused{};
    return ::inet_pton(AF_INET6, inside.c_str(), &unused) == 1;
  }
  if (host.front() == '-' || host.front() == '.') return false;
  for (const char c : host) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// The listen address for `bind` and a port: the node binds IP addresses only.
Result<std::string> listen_address(const std::string& bind, std::uint32_t port) {
  in_addr v4{};
  if (::inet_pton(AF_INET, bind.c_str(), &v4) == 1) return bind + ":" + std::to_string(port);
  in6_addr v6{};
  if (::inet_pton(AF_INET6, bind.c_str(), &v6) == 1) return "[" + bind + "]:" + std::to_string(port);
  return error(ErrorCode::invalid_argument, "--bind '" + bind + "' is not an IPv4 or IPv6 address");
}

}  // namespace

Result<audit::GenesisValidator> init_home(const InitOptions& options) {
  CL_TRY(audit::validate_chain_id(options.chain_id));
  NodeConfig config;
  config.home = options.home;
  config.name = options.name;
  config.chain_id = options.chain_id;
  config.p2p_listen = options.p2p_listen;
  config.rpc_listen = options.rpc_listen;
  if (fs::exists(config.path(config.validator_key_file))) {
    return error(ErrorCode::already_exists, config.path(config.validator_key_file).string() +
                                                " exists; refusing to replace a validator key");
  }
  CL_TRY(make_private_dir(options.home));
  CL_TRY(make_private_dir(config.path(config.data_dir)));
  auto pubkey = new_key_file(config.path(config.validator_key_file));
  if (!pubkey) return pubkey.status();
  auto pin = generate_tls_identity(config.path(config.tls_key_file), config.path(config.tls_cert_file),
                                   options.name);
  if (!pin) return pin.status();
  CL_TRY(config.save());
  audit::GenesisValidator v;
  v.name = options.name;
  v.pubkey = *pubkey;
  v.tls_pubkey = *pin;
  v.p2p = options.p2p_listen;
  return v;
}

Result<Testnet> make_testnet(const TestnetOptions& options, const TestnetAddresses& addresses) {
  CL_TRY(audit::validate_chain_id(options.chain_id));
  if (options.validators < 1 || options.validators > 64) {
    return error(ErrorCode::invalid_argument, "--validators must be between 1 and 64");
  }
  if (!addresses.hosts.empty() && addresses.hosts.size() != options.validators) {
    return error(ErrorCode::invalid_argument, "--hosts names " + std::to_string(addresses.hosts.size()) +
                                                  " hosts for " + std::to_string(options.validators) +
                                                  " validators");
  }
  for (const auto& host : addresses.hosts) {
    if (!valid_host(host))
      return error(ErrorCode::invalid_argument, "--hosts: '" + host + "' is not a host name");
  }
  const std::string bind =
      !addresses.bind.empty() ? addresses.bind : (addresses.hosts.empty() ? "127.0.0.1" : "0.0.0.0");
  CL_TRY(listen_address(bind, 0).status());
  if (static_cast<std::uint32_t>(options.base_port) + 10 * options.validators > 65535 ||
      options.base_port < 1024) {
    return error(ErrorCode::invalid_argument, "--base-port leaves no room for the ports (1024..65535)");
  }
  std::error_code ec;
  if (fs::exists(options.dir) && !fs::is_empty(options.dir, ec)) {
    return error(ErrorCode::already_exists, options.dir.string() + " is not empty; choose a new directory");
  }
  CL_TRY(make_private_dir(options.dir));
  const fs::path dir = fs::absolute(options.dir);

  Testnet net;
  net.chain_id = options.chain_id;
  audit::Genesis genesis;
  genesis.chain_id = options.chain_id;
  genesis.genesis_time = utc_now_rfc3339();
  for (std::uint32_t i = 0; i < options.validators; ++i) {
    const std::uint32_t p2p_port = options.base_port + 10 * i;
    const std::uint32_t rpc_port = p2p_port + 1;
    InitOptions init;
    init.home = dir / ("node" + std::to_string(i));
    init.chain_id = options.chain_id;
    init.name = "node" + std::to_string(i);
    init.p2p_listen = *listen_address(bind, p2p_port);
    init.rpc_listen = *listen_address(bind, rpc_port);
    auto validator = init_home(init);
    if (!validator) return validator.status();
    // What the others dial; a node listening on 0.0.0.0 is not reached there.
    const std::string host = addresses.hosts.empty() ? "127.0.0.1" : addresses.hosts[i];
    validator->p2p = host + ":" + std::to_string(p2p_port);
    genesis.validators.push_back(*validator);
    genesis.accounts.push_back({validator->pubkey, {audit::role_validator}});
    net.nodes.push_back({init.home, "http://" + host + ":" + std::to_string(rpc_port), validator->p2p});
  }
  CL_TRY(make_private_dir(dir / "keys"));
  net.submitter_key = dir / "keys" / "submitter.key";
  net.admin_key = dir / "keys" / "admin.key";
  auto submitter = new_key_file(net.submitter_key);
  if (!submitter) return submitter.status();
  auto admin = new_key_file(net.admin_key);
  if (!admin) return admin.status();
  // PPP contract actions (docs/contracts.md) are submitted by a partner account.
  net.partner_key = dir / "keys" / "partner.key";
  auto partner = new_key_file(net.partner_key);
  if (!partner) return partner.status();
  genesis.accounts.push_back({*submitter, {audit::role_submitter}});
  net.submitter_keys.push_back(net.submitter_key);
  for (std::uint32_t i = 2; i <= options.submitters; ++i) {
    const fs::path path = dir / "keys" / ("submitter" + std::to_string(i) + ".key");
    auto key = new_key_file(path);
    if (!key) return key.status();
    genesis.accounts.push_back({*key, {audit::role_submitter}});
    net.submitter_keys.push_back(path);
  }
  genesis.accounts.push_back({*admin, {audit::role_admin}});
  genesis.accounts.push_back({*partner, {audit::role_partner}});

  // One byte-identical genesis.json for the network and in every home.
  const std::string text = genesis.to_json();
  auto check = audit::Genesis::parse(text);
  if (!check)
    return error(ErrorCode::internal, "generated genesis does not parse: " + check.status().message());
  net.genesis = dir / "genesis.json";
  CL_TRY(write_file(net.genesis, text));
  for (const auto& node : net.nodes) CL_TRY(write_file(node.home / "genesis.json", text));
  return net;
}

std::string Testnet::to_json() const {
  nlohmann::ordered_json doc;
  doc["genesis"] = genesis.string();
  doc["chain_id"] = chain_id;
  doc["nodes"] = nlohmann::ordered_json::array();
  for (const auto& n : nodes)
    doc["nodes"].push_back({{"home", n.home.string()}, {"rpc", n.rpc}, {"p2p", n.p2p}});
  doc["keys"] = {{"submitter", submitter_key.string()},
                 {"admin", admin_key.string()},
                 {"partner", partner_key.string()}};
  doc["keys"]["submitters"] = nlohmann::ordered_json::array();
  for (const auto& k : submitter_keys) doc["keys"]["submitters"].push_back(k.string());
  return doc.dump();
}

}  // namespace cityledger::node
