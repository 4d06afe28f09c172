// config.toml of a validator home directory (docs/operations.md will list
// every key). Paths in it are relative to the home directory.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "common/result.hpp"

namespace cityledger::node {

struct NodeConfig {
  std::filesystem::path home;
  std::string name = "validator";
  std::string chain_id;

  std::string genesis_file = "genesis.json";
  std::string validator_key_file = "validator.key";
  std::string tls_key_file = "tls.key";
  std::string tls_cert_file = "tls.crt";
  std::string data_dir = "data";

  std::string p2p_listen = "127.0.0.1:26656";
  std::string rpc_listen = "127.0.0.1:26657";
  std::uint64_t rpc_max_body_bytes = 1u << 20;

  std::uint64_t timeout_propose_ms = 1000;
  std::uint64_t timeout_vote_ms = 500;

  std::uint64_t mempool_max_txs = 50'000;
  std::uint64_t mempool_max_bytes = 256u << 20;
  std::uint64_t block_max_txs = 5'000;
  std::uint64_t block_max_bytes = 8u << 20;
  // With no transactions waiting, the next block comes only after this long
  // (a heartbeat that keeps checkpoints fresh without a stream of empty blocks).
  std::uint64_t empty_block_interval_ms = 5000;
  // [state] snapshot_interval_blocks: write the committed-state snapshot every
  // this many blocks (docs/node.md, "State snapshots"); 0 never.
  std::uint64_t state_snapshot_interval = 1000;
  // [disk] min_free_mib: the node stops (and refuses to start) when the file
  // system of its data directory has less free space than this, before a
  // write can fail half-way; 0 turns the check off (docs/operations.md).
  std::uint64_t disk_min_free_mib = 16;

  std::string log_level = "info";    // trace, debug, info, warn, error
  std::string log_format = "plain";  // plain or json

  std::filesystem::path path(const std::string& relative) const { return home / relative; }

  // Unknown keys and wrong types are refused with the key's name.
  static Result<NodeConfig> load(const std::filesystem::path& home);
  std::string to_toml() const;
  Status save() const;
};

}  // namespace cityledger::node
