#include "proto/objects.hpp"

#include <gtest/gtest.h>

#include "crypto/sha256.hpp"
#include "crypto/signing.hpp"
#include "proto/codec.hpp"

namespace cityledger::proto {
namespace {

constexpr std::string_view chain = "city-test";

pb::TxBody anchor_body(const crypto::SecretKey& key, std::uint64_t nonce, int entries = 2) {
  pb::TxBody body;
  body.set_chain_id(std::string(chain));
  body.set_signer(key.public_key().to_string());
  body.set_nonce(nonce);
  for (int i = 0; i < entries; ++i) {
    auto* e = body.mutable_anchor()->add_entries();
    e->set_content_hash(crypto::sha256("file " + std::to_string(i)).to_string());
    e->set_kind(pb::ENTRY_KIND_FILE);
    e->set_dataset_id("air-quality/2026-11");
    auto* m1 = e->add_metadata();
    m1->set_key("sensor");
    m1->set_value("no2");
    auto* m2 = e->add_metadata();
    m2->set_key("source");
    m2->set_value("s3://city/aq/" + std::to_string(i));
  }
  return body;
}

TEST(Transaction, SignAndVerify) {
  auto key = crypto::SecretKey::from_seed_for_testing(1);
  const pb::Transaction tx = sign_transaction(anchor_body(key, 1), key);
  auto verified = verify_transaction(tx, chain);
  ASSERT_TRUE(verified.ok()) << verified.status().to_string();
  EXPECT_EQ(verified->signer, key.public_key());
  EXPECT_EQ(verified->hash, tx_hash(tx));
  EXPECT_EQ(verified->body.anchor().entries_size(), 2);
}

TEST(Transaction, WrongChainTamperedBodyAndWrongKeyAreRefused) {
  auto key = crypto::SecretKey::from_seed_for_testing(1);
  pb::Transaction tx = sign_transaction(anchor_body(key, 1), key);
  EXPECT_FALSE(verify_transaction(tx, "other-chain").ok());

  pb::Transaction tampered = tx;
  std::string body = tampered.body();
  body[body.size() - 1] ^= 1;
  tampered.set_body(body);
  EXPECT_FALSE(verify_transaction(tampered, chain).ok());

  // Signed by someone else than the named signer.
  auto other = crypto::SecretKey::from_seed_for_testing(2);
  pb::Transaction forged = sign_transaction(anchor_body(key, 1), other);
  auto result = verify_transaction(forged, chain);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), ErrorCode::permission_denied);
}

TEST(Transaction, InvalidEntriesAreRefusedWithTheReason) {
  auto key = crypto::SecretKey::from_seed_for_testing(1);
  auto check = [&](auto mutate, const std::string& expected_text) {
    pb::TxBody body = anchor_body(key, 1);
    mutate(body);
    auto result = verify_transaction(sign_transaction(body, key), chain);
    ASSERT_FALSE(result.ok());
    EXPECT_NE(result.status().message().find(expected_text), std::string::npos)
        << result.status().to_string();
  };
  check([](pb::TxBody& b) { b.mutable_anchor()->mutable_entries(1)->set_content_hash("short"); }, "entry 1");
  check([](pb::TxBody& b) { b.mutable_anchor()->mutable_entries(0)->set_kind(pb::ENTRY_KIND_UNSPECIFIED); },
        "kind");
  check([](pb::TxBody& b) { b.mutable_anchor()->mutable_entries(0)->mutable_metadata()->SwapElements(0, 1); },
        "ascending");
  check([](pb::TxBody& b) { b.mutable_anchor()->clear_entries(); }, "empty");
  check([](pb::TxBody& b) { b.clear_action(); }, "no action");
  check([](pb::TxBody& b) { b.set_nonce(0); }, "nonce");
  check([](pb::TxBody& b) { b.set_signer("abc"); }, "signer");
}

TEST(Transaction, NonCanonicalBodyIsRefused) {
  auto key = crypto::SecretKey::from_seed_for_testing(1);
  pb::TxBody body = anchor_body(key, 1, 1);
  // Append an unknown field to the signed body and sign that: still refused.
  pb::Transaction tx;
  tx.set_body(encode(body) + std::string("\xf8\x06\x01", 3));
  tx.set_signature(
      key.sign(crypto::signing_digest(crypto::purpose::transaction, chain, as_bytes(tx.body()))).to_string());
  EXPECT_FALSE(verify_transaction(tx, chain).ok());
}

TEST(Votes, SignatureCoversEveryFieldAndTheChain) {
  auto key = crypto::SecretKey::from_seed_for_testing(3);
  pb::Vote v;
  v.set_type(pb::VOTE_TYPE_PRECOMMIT);
  v.set_height(10);
  v.set_round(1);
  v.set_block_id(std::string(32, '\x22'));
  v.set_validator_index(2);
  sign_vote(v, chain, key);
  EXPECT_TRUE(verify_vote(v, chain, key.public_key()));
  EXPECT_FALSE(verify_vote(v, "other", key.public_key()));
  pb::Vote changed = v;
  changed.set_round(2);
  EXPECT_FALSE(verify_vote(changed, chain, key.public_key()));
  changed = v;
  changed.set_type(pb::VOTE_TYPE_PREVOTE);
  EXPECT_FALSE(verify_vote(changed, chain, key.public_key()));
  changed = v;
  changed.clear_block_id();
  EXPECT_FALSE(verify_vote(changed, chain, key.public_key()));
  // A vote signature never verifies as a proposal signature.
  pb::Proposal p;
  p.set_height(10);
  p.set_round(1);
  EXPECT_NE(proposal_digest(p, chain), vote_digest(v, chain));
}

TEST(Votes, CommitCertificateSignatureRebuildsThePrecommit) {
  auto key = crypto::SecretKey::from_seed_for_testing(4);
  pb::Vote v;
  v.set_type(pb::VOTE_TYPE_PRECOMMIT);
  v.set_height(5);
  v.set_round(0);
  v.set_block_id(std::string(32, '\x33'));
  v.set_validator_index(1);
  sign_vote(v, chain, key);
  pb::CommitCertificate cert;
  cert.set_height(5);
  cert.set_round(0);
  cert.set_block_id(v.block_id());
  auto* sig = cert.add_signatures();
  sig->set_validator_index(1);
  sig->set_signature(v.signature());
  EXPECT_TRUE(verify_vote(precommit_of(cert, *sig), chain, key.public_key()));
}

TEST(Blocks, HashAndTxRootAreDeterministic) {
  auto key = crypto::SecretKey::from_seed_for_testing(1);
  pb::Block block;
  *block.add_txs() = sign_transaction(anchor_body(key, 1), key);
  *block.add_txs() = sign_transaction(anchor_body(key, 2), key);
  block.mutable_header()->set_chain_id(std::string(chain));
  block.mutable_header()->set_height(1);
  block.mutable_header()->set_txs_root(to_field(txs_root(block.txs())));
  const Hash32 h1 = block_hash(block.header());
  auto decoded = decode<pb::Block>(encode(block));
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(block_hash(decoded->header()), h1);
  block.mutable_txs()->SwapElements(0, 1);
  EXPECT_NE(txs_root(block.txs()), txs_root(decoded->txs()));
}

TEST(LogEntries, LeafHashIsRfc9162OverCanonicalBytes) {
  pb::LogEntry e;
  e.mutable_entry()->set_content_hash(std::string(32, '\x01'));
  e.mutable_entry()->set_kind(pb::ENTRY_KIND_FILE);
  e.set_height(3);
  const std::string bytes = log_entry_bytes(e);
  std::string prefixed = std::string(1, '\0') + bytes;
  EXPECT_EQ(log_leaf_hash(e), crypto::sha256(prefixed));
}

}  // namespace
}  // namespace cityledger::proto
