// Writes DIR/genesis.json, DIR/data.csv and DIR/proof.json (a real bundle for
// data.csv in a 9-leaf log, checkpoint signed by 3 of 4 validators), plus
// DIR/tampered.json, for the independent verifier in verify_proof.py.
#include <filesystem>
#include <fstream>
#include <iostream>

#include "audit/proof_bundle.hpp"
#include "crypto/checkpoint.hpp"
#include "crypto/merkle.hpp"
#include "crypto/sha256.hpp"
#include "proto/objects.hpp"

using namespace cityledger;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_bundle DIR\n";
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  std::filesystem::create_directories(dir);
  const std::string data = "timestamp,station,no2\n2026-11-27T00:00:00Z,AQ-01,31.5\n";
  std::ofstream(dir / "data.csv", std::ios::binary) << data;

  audit::Genesis genesis;
  genesis.chain_id = "interop-test";
  genesis.genesis_time = "2026-11-28T00:00:00Z";
  std::vector<crypto::SecretKey> keys;
  for (int i = 0; i < 4; ++i) {
    keys.push_back(crypto::SecretKey::from_seed_for_testing(50 + i));
    genesis.validators.push_back({"v" + std::to_string(i), keys.back().public_key(),
                                  crypto::sha256("tls" + std::to_string(i)), "127.0.0.1:1"});
  }
  std::ofstream(dir / "genesis.json") << genesis.to_json();

  std::vector<std::string> leaf_bytes;
  std::vector<Hash32> leaves;
  for (int i = 0; i < 9; ++i) {
    pb::LogEntry e;
    const std::string content = i == 5 ? data : "other file " + std::to_string(i);
    e.mutable_entry()->set_content_hash(crypto::sha256(content).to_string());
    e.mutable_entry()->set_kind(pb::ENTRY_KIND_FILE);
    e.mutable_entry()->set_dataset_id("air-quality");
    e.set_submitter(keys[0].public_key().to_string());
    e.set_tx_hash(crypto::sha256(std::string_view("tx")).to_string());
    e.set_index_in_tx(static_cast<std::uint32_t>(i));
    e.set_height(2);
    e.set_time_unix_ms(1'795'000'000'000);
    leaf_bytes.push_back(proto::log_entry_bytes(e));
    leaves.push_back(proto::log_leaf_hash(e));
  }
  const std::string body =
      crypto::CheckpointBody{genesis.chain_id, leaves.size(), crypto::merkle::root(leaves), 2,
                             crypto::sha256(std::string_view("block 2"))}
          .to_text();
  nlohmann::json sigs = nlohmann::json::array();
  for (int i = 1; i < 4; ++i) {
    sigs.push_back(
        {{"validator", keys[static_cast<std::size_t>(i)].public_key().hex()},
         {"signature", keys[static_cast<std::size_t>(i)].sign(crypto::checkpoint_digest(body)).hex()}});
  }
  nlohmann::json path = nlohmann::json::array();
  for (const auto& p : crypto::merkle::inclusion_path(leaves, 5).value()) path.push_back(p.hex());
  auto decoded = audit::decode_log_entry(as_bytes(leaf_bytes[5]));
  nlohmann::json bundle = {
      {"format", audit::proof_format_v1},
      {"chain_id", genesis.chain_id},
      {"entry", nlohmann::json::parse(audit::entry_json(as_bytes(leaf_bytes[5]), *decoded).dump())},
      {"leaf_index", 5},
      {"inclusion", {{"tree_size", leaves.size()}, {"path", path}}},
      {"checkpoint", {{"body", body}, {"signatures", sigs}}},
      {"validator_sets", nlohmann::json::array()}};
  std::ofstream(dir / "proof.json") << bundle.dump(2) << "\n";
  // Our own verifier must agree before the independent one is asked.
  auto genesis_back = audit::Genesis::load(dir / "genesis.json");
  if (!genesis_back) {
    std::cerr << "make_bundle: " << genesis_back.status().to_string() << "\n";
    return 1;
  }
  const auto verdict = audit::verify_proof_bundle(bundle, *genesis_back, crypto::sha256(data));
  if (!verdict.verified) {
    std::cerr << "make_bundle: our own verifier refuses the bundle: " << verdict.first_failure() << "\n";
    return 1;
  }
  bundle["inclusion"]["path"][1] = crypto::sha256(std::string_view("forged")).hex();
  std::ofstream(dir / "tampered.json") << bundle.dump(2) << "\n";
  return 0;
}
