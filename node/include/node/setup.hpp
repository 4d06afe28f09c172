// Setting up validator homes and whole local networks (cityledgerd init / testnet).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "audit/genesis.hpp"
#include "common/result.hpp"
#include "node/config.hpp"

namespace cityledger::node {

struct InitOptions {
  std::filesystem::path home;
  std::string chain_id;
  std::string name = "validator";
  std::string p2p_listen = "127.0.0.1:26656";
  std::string rpc_listen = "127.0.0.1:26657";
};

// A validator home: config.toml, validator.key (0600), tls.key (0600) and
// tls.crt. Refuses to touch a home that already has a key. Returns this
// validator's entry for genesis.json.
Result<audit::GenesisValidator> init_home(const InitOptions& options);

struct TestnetOptions {
  std::filesystem::path dir;
  std::string chain_id = "cityledger-localnet";
  std::uint32_t validators = 4;
  std::uint16_t base_port = 26600;
  // Accounts with the submitter role: keys/submitter.key, then
  // keys/submitter2.key … (several loads or agents, each with its own nonces).
  std::uint32_t submitters = 1;
};

struct TestnetNode {
  std::filesystem::path home;
  std::string rpc;  // http://HOST:PORT (HOST 127.0.0.1 unless TestnetAddresses::hosts)
  std::string p2p;  // HOST:PORT, as in genesis.json
};

struct Testnet {
  std::filesystem::path genesis;
  std::string chain_id;
  std::vector<TestnetNode> nodes;
  std::filesystem::path submitter_key;
  std::filesystem::path admin_key;
  std::filesystem::path partner_key;
  std::vector<std::filesystem::path> submitter_keys;  // every submitter account, submitter_key first

  std::string to_json() const;  // the --json contract of `cityledgerd testnet`
};

// Where the nodes of a testnet run, for networks beyond one machine's loopback
// (docker-compose.yml: one container per validator, named node0..node3).
struct TestnetAddresses {
  // One host name or IP per validator: genesis.json's `p2p` (what the other
  // validators dial) and the testnet's RPC URLs. Empty: 127.0.0.1 for all.
  std::vector<std::string> hosts;
  // The IP address every node listens on (p2p and RPC), e.g. 0.0.0.0 in a
  // container. Empty: 127.0.0.1 without `hosts`, 0.0.0.0 with them.
  std::string bind;
};

// Ports: node i listens for peers on base_port + 10*i and for RPC on base_port + 10*i + 1.
Result<Testnet> make_testnet(const TestnetOptions& options, const TestnetAddresses& addresses = {});

// Current UTC time as RFC 3339 ("2026-11-28T13:00:00Z").
std::string utc_now_rfc3339();

}  // namespace cityledger::node
