// Writes a seed corpus of valid inputs for every fuzz target into DIR/<target>/,
// so fuzzing starts from well-formed messages instead of random bytes.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "audit/proof_bundle.hpp"
#include "crypto/checkpoint.hpp"
#include "crypto/merkle.hpp"
#include "crypto/sha256.hpp"
#include "fuzz_common.hpp"
#include "node/record_file.hpp"
#include "proto/codec.hpp"
#include "proto/contracts.hpp"
#include "proto/objects.hpp"
#include "state.pb.h"

using namespace cityledger;
namespace fs = std::filesystem;

namespace {

void write(const fs::path& dir, int n, const std::string& bytes) {
  fs::create_directories(dir);
  std::ofstream(dir / ("seed-" + std::to_string(n)), std::ios::binary) << bytes;
}

pb::Transaction sample_tx(const crypto::SecretKey& key, std::uint64_t nonce, int entries) {
  pb::TxBody body;
  body.set_chain_id(fuzz::chain_id);
  body.set_signer(key.public_key().to_string());
  body.set_nonce(nonce);
  for (int i = 0; i < entries; ++i) {
    auto* e = body.mutable_anchor()->add_entries();
    e->set_content_hash(crypto::sha256("seed " + std::to_string(nonce * 100 + i)).to_string());
    e->set_kind(pb::ENTRY_KIND_FILE);
    e->set_dataset_id("traffic/loop-detectors");
    auto* m = e->add_metadata();
    m->set_key("sensor");
    m->set_value("loop-" + std::to_string(i));
  }
  return proto::sign_transaction(body, key);
}

// A registration (two parties, two rules) and a payment event with a sealed
// field, each co-signed: seeds for the contract-action paths.
std::vector<pb::Transaction> sample_contract_txs(const crypto::SecretKey& key) {
  const auto city = crypto::SecretKey::from_seed_for_testing(31);
  const auto op = crypto::SecretKey::from_seed_for_testing(32);
  std::vector<pb::ContractAction> actions(2);
  auto* r = actions[0].mutable_registration();
  r->set_contract_id("smart-lighting-2027");
  r->set_title("Smart street lighting");
  for (const auto& [name, k] : {std::pair{"city", &city}, std::pair{"operator", &op}}) {
    auto* p = r->add_parties();
    p->set_name(name);
    p->set_pubkey(k->public_key().to_string());
  }
  auto* rule = r->add_rules();
  rule->set_event_kind("milestone");
  rule->add_parties("operator");
  rule = r->add_rules();
  rule->set_event_kind("payment");
  rule->add_parties("city");
  auto* e = actions[1].mutable_event();
  e->set_contract_id("smart-lighting-2027");
  e->set_kind("payment");
  e->set_payload_hash(crypto::sha256("invoice").to_string());
  e->mutable_amount()->set_currency("EUR");
  e->mutable_amount()->set_units(125000);
  e->mutable_amount()->set_scale(2);
  auto* f = e->add_fields();
  f->set_name("district");
  f->set_value("north");
  auto* sealed = e->add_sealed_fields();
  sealed->set_name("iban");
  sealed->set_commitment(std::string(32, '\x05'));
  std::vector<pb::Transaction> out;
  std::uint64_t nonce = 50;
  for (auto& a : actions) {
    std::vector<const crypto::SecretKey*> signers = {&city, &op};
    std::sort(signers.begin(), signers.end(),
              [](auto* x, auto* y) { return x->public_key().to_string() < y->public_key().to_string(); });
    for (const auto* k : signers) {
      auto* c = a.add_cosignatures();
      c->set_signer(k->public_key().to_string());
      c->set_signature(k->sign(proto::contract_cosign_digest(a, fuzz::chain_id)).to_string());
    }
    pb::TxBody body;
    body.set_chain_id(fuzz::chain_id);
    body.set_signer(key.public_key().to_string());
    body.set_nonce(nonce++);
    *body.mutable_contract() = a;
    out.push_back(proto::sign_transaction(body, key));
  }
  return out;
}

pb::Block sample_block(const crypto::SecretKey& key, std::uint64_t height) {
  pb::Block block;
  for (int i = 0; i < 2; ++i) *block.add_txs() = sample_tx(key, height * 10 + i, 1 + i);
  auto* h = block.mutable_header();
  h->set_chain_id(fuzz::chain_id);
  h->set_height(height);
  h->set_time_unix_ms(1'790'000'000'000 + height);
  h->set_previous_block_hash(std::string(32, '\x01'));
  h->set_txs_root(proto::to_field(proto::txs_root(block.txs())));
  h->set_tx_count(2);
  h->set_log_size(height * 3);
  h->set_log_root(std::string(32, '\x02'));
  return block;
}

pb::Vote sample_vote(const crypto::SecretKey& key, std::uint64_t height, pb::VoteType type) {
  pb::Vote v;
  v.set_type(type);
  v.set_height(height);
  v.set_round(static_cast<std::uint32_t>(height % 3));
  v.set_block_id(std::string(32, static_cast<char>(height)));
  v.set_validator_index(1);
  proto::sign_vote(v, fuzz::chain_id, key);
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: fuzz_seedgen DIR\n";
    return 2;
  }
  const fs::path root = argv[1];
  const auto key = crypto::SecretKey::from_seed_for_testing(1);
  int n = 0;

  for (std::uint64_t i = 1; i <= 4; ++i) {
    write(root / "transaction", n++, proto::encode(sample_tx(key, i, static_cast<int>(i))));
  }
  for (const auto& tx : sample_contract_txs(key)) write(root / "transaction", n++, proto::encode(tx));

  for (std::uint64_t h = 1; h <= 3; ++h) {
    pb::CommittedBlock committed;
    *committed.mutable_block() = sample_block(key, h);
    auto* cert = committed.mutable_commit();
    cert->set_height(h);
    cert->set_block_id(proto::to_field(proto::block_hash(committed.block().header())));
    auto* sig = cert->add_signatures();
    sig->set_validator_index(1);
    sig->set_signature(sample_vote(key, h, pb::VOTE_TYPE_PRECOMMIT).signature());
    write(root / "committed_block", n++, proto::encode(committed));

    pb::Envelope proposal;
    auto* p = proposal.mutable_proposal();
    *p->mutable_block() = committed.block();
    p->mutable_proposal()->set_height(h);
    p->mutable_proposal()->set_pol_round(-1);
    p->mutable_proposal()->set_block_id(cert->block_id());
    proto::sign_proposal(*p->mutable_proposal(), fuzz::chain_id, key);
    write(root / "envelope", n++, proto::encode(proposal));
  }
  for (auto type : {pb::VOTE_TYPE_PREVOTE, pb::VOTE_TYPE_PRECOMMIT}) {
    pb::Envelope e;
    *e.mutable_vote() = sample_vote(key, 5, type);
    write(root / "envelope", n++, proto::encode(e));
  }
  {
    pb::Envelope e;
    e.mutable_hello()->set_chain_id(fuzz::chain_id);
    e.mutable_hello()->set_validator(key.public_key().to_string());
    e.mutable_hello()->set_height(9);
    write(root / "envelope", n++, proto::encode(e));
    pb::Envelope r;
    r.mutable_block_request()->set_from_height(3);
    r.mutable_block_request()->set_max_blocks(16);
    write(root / "envelope", n++, proto::encode(r));
    pb::Envelope t;
    *t.mutable_tx() = sample_tx(key, 77, 3);
    write(root / "envelope", n++, proto::encode(t));
  }

  // Governance actions approved by three of governance_action's four
  // validators (from_seed_for_testing(1..4)): a role change and an addition.
  {
    crypto::Sha256 set_hash;
    for (std::uint64_t i = 1; i <= 4; ++i)
      set_hash.update(crypto::SecretKey::from_seed_for_testing(i).public_key().span());
    const Hash32 set = set_hash.finish();
    for (int kind = 0; kind < 2; ++kind) {
      pb::GovernanceProposal p;
      p.set_chain_id(fuzz::chain_id);
      p.set_validator_set_hash(set.to_string());
      p.set_memo("seed");
      if (kind == 0) {
        p.mutable_change_roles()->set_account(
            crypto::SecretKey::from_seed_for_testing(9).public_key().to_string());
        p.mutable_change_roles()->add_grant("submitter");
      } else {
        p.set_effective_height(12);
        auto* v = p.mutable_add_validator()->mutable_validator();
        v->set_name("node5");
        v->set_pubkey(crypto::SecretKey::from_seed_for_testing(5).public_key().to_string());
        v->set_tls_pubkey(std::string(32, '\x05'));
        v->set_p2p("127.0.0.1:26605");
      }
      pb::GovernanceAction action;
      action.set_proposal(proto::encode(p));
      const Hash32 digest = proto::governance_digest(fuzz::chain_id, as_bytes(action.proposal()));
      std::vector<crypto::SecretKey> signers;
      for (std::uint64_t i = 1; i <= 3; ++i) signers.push_back(crypto::SecretKey::from_seed_for_testing(i));
      std::sort(signers.begin(), signers.end(),
                [](const auto& a, const auto& b) { return a.public_key() < b.public_key(); });
      for (const auto& signer : signers) {
        auto* a = action.add_approvals();
        a->set_validator(signer.public_key().to_string());
        a->set_signature(signer.sign(digest).to_string());
      }
      write(root / "governance_action", n++, proto::encode(action));
    }
  }

  // State snapshots for state_snapshot: empty, and one contract with an event
  // (the registration and payment of sample_contract_txs).
  {
    write(root / "state_snapshot", n++, pb::StateSnapshot().SerializeAsString());
    pb::StateSnapshot snapshot;
    snapshot.set_format(1);
    snapshot.set_chain_id(fuzz::chain_id);
    snapshot.set_height(7);
    const auto txs = sample_contract_txs(key);
    pb::TxBody registration, payment;
    CL_CHECK(registration.ParseFromString(txs.at(0).body()) && payment.ParseFromString(txs.at(1).body()));
    auto* c = snapshot.add_contracts();
    *c->mutable_registration() = registration.contract().registration();
    c->set_height(5);
    c->set_leaf_index(40);
    c->set_tx_hash(proto::tx_hash(txs.at(0)).to_string());
    auto* e = c->add_events();
    e->set_subject_hash(crypto::sha256("payment subject").to_string());
    e->set_kind(payment.contract().event().kind());
    e->set_height(6);
    e->set_leaf_index(41);
    e->set_tx_hash(proto::tx_hash(txs.at(1)).to_string());
    write(root / "state_snapshot", n++, snapshot.SerializeAsString());
  }

  // Record files for record_file: nothing signed yet (an empty payload), a
  // sign state, and a kept block with bytes after it (a longer earlier record).
  {
    write(root / "record_file", n++, node::RecordFile::encode({0, ""}));
    pb::SignState state;
    state.set_height(12);
    state.set_round(1);
    state.set_step(3);
    state.set_block_id(crypto::sha256("block 12").to_string());
    state.set_locked_round(1);
    state.set_locked_block_id(state.block_id());
    state.set_valid_round(-1);
    write(root / "record_file", n++, node::RecordFile::encode({7, proto::encode(state)}));
    pb::Block block;
    block.mutable_header()->set_chain_id(fuzz::chain_id);
    block.mutable_header()->set_height(12);
    write(root / "record_file", n++, node::RecordFile::encode({12, proto::encode(block)}) + "left over");
  }

  // Governance proposals for set_change_proposal: each set change (an
  // addition, a removal, rotations of either key or both) and, as a refusal,
  // a role change.
  {
    const auto key_bytes = [](std::uint64_t seed) {
      return crypto::SecretKey::from_seed_for_testing(seed).public_key().to_string();
    };
    for (int kind = 0; kind < 6; ++kind) {
      pb::GovernanceProposal p;
      p.set_chain_id(fuzz::chain_id);
      p.set_validator_set_hash(std::string(32, '\x07'));
      p.set_effective_height(kind == 5 ? 0 : 40 + static_cast<std::uint64_t>(kind));
      if (kind != 2) p.set_memo("seed " + std::to_string(kind));
      if (kind == 0) {
        auto* v = p.mutable_add_validator()->mutable_validator();
        v->set_name("node5");
        v->set_pubkey(key_bytes(5));
        v->set_tls_pubkey(std::string(32, '\x05'));
        v->set_p2p("127.0.0.1:26605");
      } else if (kind == 1) {
        p.mutable_remove_validator()->set_pubkey(key_bytes(2));
      } else if (kind <= 4) {
        auto* r = p.mutable_rotate_validator_keys();
        r->set_pubkey(key_bytes(3));
        if (kind != 3) r->set_new_pubkey(key_bytes(6));
        if (kind != 2) r->set_new_tls_pubkey(std::string(32, '\x06'));
      } else {
        p.mutable_change_roles()->set_account(key_bytes(9));
        p.mutable_change_roles()->add_grant("submitter");
      }
      write(root / "set_change_proposal", n++, proto::encode(p));
    }
  }

  // Valid inclusion and consistency proofs in merkle_proof's layout.
  std::vector<Hash32> leaves;
  for (int i = 0; i < 13; ++i) leaves.push_back(crypto::merkle::leaf_hash(as_bytes(std::to_string(i))));
  auto u64 = [](std::uint64_t v) {
    std::string s(8, '\0');
    for (int i = 7; i >= 0; --i, v >>= 8) s[static_cast<std::size_t>(i)] = static_cast<char>(v & 0xff);
    return s;
  };
  for (std::uint64_t size : {1, 5, 8, 13}) {
    for (std::uint64_t index : {0ul, size / 2, size - 1}) {
      auto tree = std::span(leaves).subspan(0, size);
      const std::uint64_t first = 1 + index;
      std::string input = u64(index) + u64(size) + u64(first) + leaves[index].to_string() +
                          crypto::merkle::root(tree).to_string() +
                          crypto::merkle::root(tree.subspan(0, first)).to_string();
      const auto path = crypto::merkle::inclusion_path(tree, index);
      for (const auto& p : path.value()) input += p.to_string();
      write(root / "merkle_proof", n++, input);
    }
  }

  // Log entries (for the auditor's reader) and a proof bundle for one of them.
  std::vector<std::string> entry_bytes;
  std::vector<Hash32> entry_leaves;
  for (int i = 0; i < 5; ++i) {
    pb::LogEntry e;
    e.mutable_entry()->set_content_hash(crypto::sha256("entry " + std::to_string(i)).to_string());
    e.mutable_entry()->set_kind(pb::ENTRY_KIND_RECORD_SET_ROOT);
    e.mutable_entry()->set_dataset_id("air-quality");
    auto* m = e.mutable_entry()->add_metadata();
    m->set_key("records");
    m->set_value(std::to_string(100 + i));
    e.set_submitter(key.public_key().to_string());
    e.set_tx_hash(crypto::sha256("tx").to_string());
    e.set_index_in_tx(static_cast<std::uint32_t>(i));
    e.set_height(3);
    e.set_time_unix_ms(1'790'000'000'000);
    entry_bytes.push_back(proto::log_entry_bytes(e));
    entry_leaves.push_back(proto::log_leaf_hash(e));
    write(root / "log_entry", n++, entry_bytes.back());
  }
  {
    crypto::CheckpointBody body{fuzz::chain_id, entry_leaves.size(), crypto::merkle::root(entry_leaves), 3,
                                crypto::sha256(std::string_view("block"))};
    const std::string text = body.to_text();
    nlohmann::json sigs = nlohmann::json::array();
    for (int i = 0; i < 3; ++i) {
      auto k = crypto::SecretKey::from_seed_for_testing(10 + i);
      sigs.push_back({{"validator", k.public_key().hex()},
                      {"signature", k.sign(crypto::checkpoint_digest(text)).hex()}});
    }
    nlohmann::json path = nlohmann::json::array();
    const auto inclusion = crypto::merkle::inclusion_path(entry_leaves, 2);
    for (const auto& p : inclusion.value()) path.push_back(p.hex());
    auto decoded = audit::decode_log_entry(as_bytes(entry_bytes[2]));
    nlohmann::json bundle = {
        {"format", audit::proof_format_v1},
        {"chain_id", fuzz::chain_id},
        {"entry", nlohmann::json::parse(audit::entry_json(as_bytes(entry_bytes[2]), *decoded).dump())},
        {"leaf_index", 2},
        {"inclusion", {{"tree_size", entry_leaves.size()}, {"path", path}}},
        {"checkpoint", {{"body", text}, {"signatures", sigs}}},
        {"validator_sets", nlohmann::json::array()}};
    write(root / "proof_bundle", n++, bundle.dump());
    write(root / "proof_bundle", n++, bundle.dump(2));
  }

  // Peer byte streams: frames (4-byte big-endian length + envelope) for
  // p2p_frame, and [kind u8][length u16 LE][bytes] records for consensus_core.
  {
    std::vector<std::string> envelopes;
    for (auto type : {pb::VOTE_TYPE_PREVOTE, pb::VOTE_TYPE_PRECOMMIT}) {
      pb::Envelope e;
      *e.mutable_vote() = sample_vote(key, 1, type);
      envelopes.push_back(proto::encode(e));
    }
    {
      pb::Envelope e;
      auto* p = e.mutable_proposal();
      *p->mutable_block() = sample_block(key, 1);
      p->mutable_proposal()->set_height(1);
      p->mutable_proposal()->set_pol_round(-1);
      p->mutable_proposal()->set_block_id(proto::to_field(proto::block_hash(p->block().header())));
      proto::sign_proposal(*p->mutable_proposal(), fuzz::chain_id, key);
      envelopes.push_back(proto::encode(e));
    }
    auto frame = [](const std::string& body) {
      std::string out(4, '\0');
      for (int i = 0; i < 4; ++i)
        out[static_cast<std::size_t>(i)] = static_cast<char>(body.size() >> (24 - 8 * i));
      return out + body;
    };
    auto record = [](std::uint8_t kind, const std::string& body) {
      std::string out(1, static_cast<char>(kind));
      out += static_cast<char>(body.size() & 0xff);
      out += static_cast<char>((body.size() >> 8) & 0xff);
      return out + body;
    };
    std::string stream;
    std::string records;
    for (const auto& e : envelopes) {
      write(root / "p2p_frame", n++, frame(e));
      write(root / "consensus_core", n++, record(0, e));
      stream += frame(e);
      records += record(0, e);
    }
    write(root / "p2p_frame", n++, stream);
    write(root / "consensus_core", n++, records + record(4, std::string("\0\0", 2)) + record(5, "\1"));
  }

  // Bytes the ledger reads back from RocksDB.
  {
    pb::CommittedBlock committed;
    *committed.mutable_block() = sample_block(key, 2);
    write(root / "ledger_records", n++, proto::encode(committed));
    write(root / "ledger_records", n++, proto::encode(committed.block()));
    write(root / "ledger_records", n++, entry_bytes.front());
    write(root / "ledger_records", n++, u64(42));
    write(root / "ledger_records", n++, crypto::sha256("leaf").to_string());
  }

  // JSON-RPC bodies: single calls, a batch, a notification, bad params.
  for (
      const char* body : {
          R"({"jsonrpc":"2.0","id":1,"method":"echo","params":{"value":[1,"a",{"b":null}]}})",
          R"({"jsonrpc":"2.0","id":"x","method":"get_block","params":{"height":7}})",
          R"([{"jsonrpc":"2.0","id":1,"method":"get_block","params":{"height":13}},{"jsonrpc":"2.0","method":"echo"}])",
          R"({"jsonrpc":"2.0","id":2,"method":"get_entry","params":{"content_hash":"00","tree_size":-1}})",
          R"({"jsonrpc":"2.0","id":3,"method":"nope"})",
          "[]",
      }) {
    write(root / "rpc_request", n++, body);
  }

  write(root / "hex", n++, key.public_key().hex());
  write(root / "hex", n++, crypto::sha256("x").hex() + crypto::sha256("y").hex());
  write(root / "hex", n++, "ABCDEF0123");
  write(root / "hex", n++, "xyz");
  std::cout << "wrote " << n << " seeds under " << root << "\n";
  return 0;
}
