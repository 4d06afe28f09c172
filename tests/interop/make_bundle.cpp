// Writes DIR/genesis.json, DIR/data.csv and DIR/proof.json (a real bundle for
// data.csv in a 9-leaf log, checkpoint signed by 3 of 4 validators), plus
// DIR/tampered.json, for the independent verifier in verify_proof.py.
// Across a validator-set change (v0 removed at height 3, approved by v1..v3):
// DIR/set-change.json (a checkpoint of height 4 signed by the new set),
// DIR/set-change-removed.json (signed by v0..v2, the removed v0 included) and
// DIR/set-change-unapproved.json (the change approved by two validators only)
// and DIR/set-change-stale.json (a change made for another set).
// Across three changes (v0 removed at 3, v4 added at 4, v4's consensus key
// rotated to key 5 at 5): DIR/set-change-chain.json (a checkpoint of height 5
// signed by v1, v2 and v4's new key) and DIR/set-change-chain-old-key.json
// (signed with v4's old key instead).
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "audit/proof_bundle.hpp"
#include "audit/set_change.hpp"
#include "crypto/checkpoint.hpp"
#include "crypto/merkle.hpp"
#include "crypto/sha256.hpp"
#include "proto/codec.hpp"
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
  // Keys 4 and 5: a validator added later, and its rotated consensus key.
  for (int i = 4; i < 6; ++i) keys.push_back(crypto::SecretKey::from_seed_for_testing(50 + i));
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
  nlohmann::json changed = bundle;
  bundle["inclusion"]["path"][1] = crypto::sha256(std::string_view("forged")).hex();
  std::ofstream(dir / "tampered.json") << bundle.dump(2) << "\n";

  // The set change: remove v0 from height 3, approved by v1..v3.
  pb::GovernanceProposal removal;
  removal.set_chain_id(genesis.chain_id);
  removal.set_validator_set_hash(audit::validator_set_hash(genesis.validators).to_string());
  removal.set_effective_height(3);
  removal.set_memo("v0 leaves");
  removal.mutable_remove_validator()->set_pubkey(keys[0].public_key().to_string());
  const std::string proposal = proto::encode(removal);
  auto approvals_by = [&](std::vector<std::size_t> signers, const std::string& bytes) {
    const Hash32 digest = proto::governance_digest(genesis.chain_id, as_bytes(bytes));
    std::sort(signers.begin(), signers.end(),
              [&](std::size_t a, std::size_t b) { return keys[a].public_key() < keys[b].public_key(); });
    nlohmann::json out = nlohmann::json::array();
    for (std::size_t i : signers)
      out.push_back({{"validator", keys[i].public_key().hex()}, {"signature", keys[i].sign(digest).hex()}});
    return out;
  };
  nlohmann::json remaining = nlohmann::json::array();
  for (std::size_t i = 1; i < 4; ++i) {
    const auto& v = genesis.validators[i];
    remaining.push_back(
        {{"name", v.name}, {"pubkey", v.pubkey.hex()}, {"tls_pubkey", v.tls_pubkey.hex()}, {"p2p", v.p2p}});
  }
  const std::string later_body =
      crypto::CheckpointBody{genesis.chain_id, leaves.size(), crypto::merkle::root(leaves), 4,
                             crypto::sha256(std::string_view("block 4"))}
          .to_text();
  auto signed_by = [&](std::vector<std::size_t> signers, const std::string& text) {
    nlohmann::json out = nlohmann::json::array();
    for (std::size_t i : signers) {
      out.push_back({{"validator", keys[i].public_key().hex()},
                     {"signature", keys[i].sign(crypto::checkpoint_digest(text)).hex()}});
    }
    return out;
  };
  changed["checkpoint"] = {{"body", later_body}, {"signatures", signed_by({1, 2, 3}, later_body)}};
  changed["validator_sets"] = nlohmann::json::array({{{"effective_height", 3},
                                                      {"proposal", to_hex(as_bytes(proposal))},
                                                      {"approvals", approvals_by({1, 2, 3}, proposal)},
                                                      {"validators", remaining}}});
  nlohmann::json removed = changed;
  removed["checkpoint"]["signatures"] = signed_by({0, 1, 2}, later_body);
  nlohmann::json unapproved = changed;
  unapproved["validator_sets"][0]["approvals"] = approvals_by({1, 2}, proposal);
  // Approved by v1..v3, but made for another set than genesis's (stale).
  pb::GovernanceProposal stale_removal = removal;
  stale_removal.set_validator_set_hash(crypto::sha256(std::string_view("another set")).to_string());
  const std::string stale_bytes = proto::encode(stale_removal);
  nlohmann::json stale = changed;
  stale["validator_sets"][0]["proposal"] = to_hex(as_bytes(stale_bytes));
  stale["validator_sets"][0]["approvals"] = approvals_by({1, 2, 3}, stale_bytes);
  // Three changes: the removal above, then v4 added at 4 (approved by v1..v3),
  // then v4's consensus key rotated to key 5 at 5 (approved by v1, v2, v4).
  auto set_json = [](const std::vector<audit::GenesisValidator>& set) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& v : set)
      out.push_back(
          {{"name", v.name}, {"pubkey", v.pubkey.hex()}, {"tls_pubkey", v.tls_pubkey.hex()}, {"p2p", v.p2p}});
    return out;
  };
  std::vector<audit::GenesisValidator> after_removal(genesis.validators.begin() + 1,
                                                     genesis.validators.end());
  const audit::GenesisValidator v4{"v4", keys[4].public_key(), crypto::sha256(std::string_view("tls4")),
                                   "127.0.0.1:2"};
  pb::GovernanceProposal addition;
  addition.set_chain_id(genesis.chain_id);
  addition.set_validator_set_hash(audit::validator_set_hash(after_removal).to_string());
  addition.set_effective_height(4);
  addition.set_memo("v4 joins");
  auto* added = addition.mutable_add_validator()->mutable_validator();
  added->set_name(v4.name);
  added->set_pubkey(v4.pubkey.to_string());
  added->set_tls_pubkey(v4.tls_pubkey.to_string());
  added->set_p2p(v4.p2p);
  const std::string addition_bytes = proto::encode(addition);
  std::vector<audit::GenesisValidator> after_addition = after_removal;
  after_addition.push_back(v4);
  pb::GovernanceProposal rotation;
  rotation.set_chain_id(genesis.chain_id);
  rotation.set_validator_set_hash(audit::validator_set_hash(after_addition).to_string());
  rotation.set_effective_height(5);
  rotation.mutable_rotate_validator_keys()->set_pubkey(keys[4].public_key().to_string());
  rotation.mutable_rotate_validator_keys()->set_new_pubkey(keys[5].public_key().to_string());
  const std::string rotation_bytes = proto::encode(rotation);
  std::vector<audit::GenesisValidator> after_rotation = after_addition;
  after_rotation.back().pubkey = keys[5].public_key();
  const std::string chain_body =
      crypto::CheckpointBody{genesis.chain_id, leaves.size(), crypto::merkle::root(leaves), 5,
                             crypto::sha256(std::string_view("block 5"))}
          .to_text();
  nlohmann::json chain = changed;
  chain["checkpoint"] = {{"body", chain_body}, {"signatures", signed_by({1, 2, 5}, chain_body)}};
  chain["validator_sets"].push_back({{"effective_height", 4},
                                     {"proposal", to_hex(as_bytes(addition_bytes))},
                                     {"approvals", approvals_by({1, 2, 3}, addition_bytes)},
                                     {"validators", set_json(after_addition)}});
  chain["validator_sets"].push_back({{"effective_height", 5},
                                     {"proposal", to_hex(as_bytes(rotation_bytes))},
                                     {"approvals", approvals_by({1, 2, 4}, rotation_bytes)},
                                     {"validators", set_json(after_rotation)}});
  nlohmann::json old_key = chain;
  old_key["checkpoint"]["signatures"] = signed_by({1, 2, 4}, chain_body);
  // Our own verifier's verdicts first: the accepted ones verify, the others do not.
  const struct {
    const char* name;
    const nlohmann::json& doc;
    bool verifies;
  } cases[] = {{"set-change.json", changed, true},
               {"set-change-removed.json", removed, false},
               {"set-change-unapproved.json", unapproved, false},
               {"set-change-stale.json", stale, false},
               {"set-change-chain.json", chain, true},
               {"set-change-chain-old-key.json", old_key, false}};
  for (const auto& c : cases) {
    const auto v = audit::verify_proof_bundle(c.doc, *genesis_back, crypto::sha256(data));
    if (v.verified != c.verifies) {
      std::cerr << "make_bundle: our own verifier " << (v.verified ? "accepts " : "refuses ") << c.name
                << ": " << v.first_failure() << "\n";
      return 1;
    }
    std::ofstream(dir / c.name) << c.doc.dump(2) << "\n";
  }
  return 0;
}
