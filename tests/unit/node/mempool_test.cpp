#include "node/mempool.hpp"

#include <gtest/gtest.h>

#include "crypto/sha256.hpp"
#include "node/contract_book.hpp"
#include "proto/contracts.hpp"

namespace cityledger::node {
namespace {

constexpr const char* chain = "city-test";

class FakeAccounts : public AccountView {
 public:
  std::optional<AccountState> account(const crypto::PublicKey& key) const override {
    auto it = accounts.find(key);
    if (it == accounts.end()) return std::nullopt;
    return it->second;
  }
  bool is_committed(const Hash32& h) const override { return committed.contains(h); }
  Status check_contract(const pb::ContractAction& action, bool verify_signatures) const override {
    return contracts.check(action, verify_signatures);
  }
  Status check_governance(const pb::GovernanceAction&) const override { return governance_verdict; }
  Status governance_verdict;
  std::map<crypto::PublicKey, AccountState> accounts;
  ContractBook contracts{chain};
  std::set<Hash32> committed;
};

pb::Transaction anchor_tx(const crypto::SecretKey& key, std::uint64_t nonce,
                          const std::string& chain_id = chain) {
  pb::TxBody body;
  body.set_chain_id(chain_id);
  body.set_signer(key.public_key().to_string());
  body.set_nonce(nonce);
  auto* e = body.mutable_anchor()->add_entries();
  e->set_content_hash(crypto::sha256("file" + std::to_string(nonce)).to_string());
  e->set_kind(pb::ENTRY_KIND_FILE);
  return proto::sign_transaction(body, key);
}

class MempoolTest : public ::testing::Test {
 protected:
  MempoolTest() {
    accounts.accounts[submitter.public_key()] = {{"submitter"}, 1};
    accounts.accounts[other.public_key()] = {{"submitter"}, 1};
    accounts.accounts[partner.public_key()] = {{"partner"}, 1};
  }
  crypto::SecretKey submitter = crypto::SecretKey::from_seed_for_testing(1);
  crypto::SecretKey other = crypto::SecretKey::from_seed_for_testing(2);
  crypto::SecretKey partner = crypto::SecretKey::from_seed_for_testing(3);
  crypto::SecretKey stranger = crypto::SecretKey::from_seed_for_testing(4);
  FakeAccounts accounts;
};

void expect_refused(const Result<Hash32>& r, ErrorCode code, const std::string& text) {
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), code) << r.status().to_string();
  EXPECT_NE(r.status().message().find(text), std::string::npos) << r.status().message();
}

TEST_F(MempoolTest, AcceptsValidAndRefusesEachBadCaseWithAReason) {
  Mempool pool(chain, accounts);
  auto tx = anchor_tx(submitter, 1);
  auto added = pool.add(tx);
  ASSERT_TRUE(added.ok()) << added.status().to_string();
  EXPECT_EQ(*added, proto::tx_hash(tx));
  EXPECT_TRUE(pool.was_verified(*added));

  expect_refused(pool.add(tx), ErrorCode::already_exists, "already in the mempool");
  expect_refused(pool.add(anchor_tx(stranger, 1)), ErrorCode::permission_denied, "not an account");
  expect_refused(pool.add(anchor_tx(partner, 1)), ErrorCode::permission_denied, "'submitter' role");
  expect_refused(pool.add(anchor_tx(submitter, 2, "other-chain")), ErrorCode::invalid_argument, "chain");
  pb::Transaction bad_sig = anchor_tx(submitter, 3);
  bad_sig.set_signature(std::string(64, '\x01'));
  expect_refused(pool.add(bad_sig), ErrorCode::permission_denied, "signature");
  // A different transaction with a nonce that is already pending.
  pb::TxBody body;
  body.set_chain_id(chain);
  body.set_signer(submitter.public_key().to_string());
  body.set_nonce(1);
  auto* e = body.mutable_anchor()->add_entries();
  e->set_content_hash(std::string(32, '\x07'));
  e->set_kind(pb::ENTRY_KIND_FILE);
  expect_refused(pool.add(proto::sign_transaction(body, submitter)), ErrorCode::already_exists,
                 "already pending");
  expect_refused(pool.add(anchor_tx(submitter, 1 + 10'001)), ErrorCode::invalid_argument, "too far ahead");
  EXPECT_EQ(pool.size(), 1u);
  EXPECT_EQ(pool.stats().accepted, 1u);
  EXPECT_EQ(pool.stats().refused, 7u);
}

TEST_F(MempoolTest, ReplaysOfCommittedTransactionsAreRefused) {
  Mempool pool(chain, accounts);
  auto tx = anchor_tx(submitter, 1);
  ASSERT_TRUE(pool.add(tx).ok());
  accounts.accounts[submitter.public_key()].next_nonce = 2;
  accounts.committed.insert(proto::tx_hash(tx));
  pool.remove_committed({proto::tx_hash(tx)});
  EXPECT_EQ(pool.size(), 0u);
  expect_refused(pool.add(tx), ErrorCode::already_exists, "already committed");
  accounts.committed.clear();
  expect_refused(pool.add(tx), ErrorCode::already_exists, "replay");
}

TEST_F(MempoolTest, RemoveCommittedReturnsAdmissionTimesOfHeldTransactions) {
  Mempool pool(chain, accounts);
  auto tx1 = anchor_tx(submitter, 1);
  auto tx2 = anchor_tx(submitter, 2);
  ASSERT_TRUE(pool.add(tx1, 1000).ok());
  ASSERT_TRUE(pool.add(tx2, 2500).ok());
  accounts.accounts[submitter.public_key()].next_nonce = 3;
  const Hash32 unknown = crypto::sha256(std::string("not in this mempool"));
  const auto admitted = pool.remove_committed({proto::tx_hash(tx2), unknown, proto::tx_hash(tx1)});
  EXPECT_EQ(admitted, (std::vector<std::uint64_t>{2500, 1000})) << "in block order, unknown ones skipped";
  EXPECT_EQ(pool.size(), 0u);
}

TEST_F(MempoolTest, ReapsConsecutiveNoncesFairlyAcrossAccounts) {
  Mempool pool(chain, accounts);
  for (std::uint64_t n : {1, 2, 4}) ASSERT_TRUE(pool.add(anchor_tx(submitter, n)).ok());
  for (std::uint64_t n : {1, 2, 3}) ASSERT_TRUE(pool.add(anchor_tx(other, n)).ok());
  auto txs = pool.reap(100, 1 << 20);
  ASSERT_EQ(txs.size(), 5u);  // submitter's nonce 4 waits for 3
  auto nonce_of = [](const pb::Transaction& t) {
    pb::TxBody b;
    EXPECT_TRUE(b.ParseFromString(t.body()));
    return std::make_pair(b.signer(), b.nonce());
  };
  EXPECT_EQ(nonce_of(txs[0]).second, 1u);
  EXPECT_EQ(nonce_of(txs[1]).second, 1u);
  EXPECT_NE(nonce_of(txs[0]).first, nonce_of(txs[1]).first);  // interleaved
  EXPECT_EQ(pool.reap(2, 1 << 20).size(), 2u);
  EXPECT_EQ(pool.reap(100, txs[0].ByteSizeLong()).size(), 1u);

  // A client signing its next transaction goes after the consecutive run.
  EXPECT_EQ(pool.next_pending_nonce(submitter.public_key(), 1), 3u);  // 1, 2 queued; 4 waits for 3
  EXPECT_EQ(pool.next_pending_nonce(other.public_key(), 1), 4u);
  EXPECT_EQ(pool.next_pending_nonce(other.public_key(), 3), 4u);    // 1, 2 committed meanwhile
  EXPECT_EQ(pool.next_pending_nonce(partner.public_key(), 7), 7u);  // nothing queued
}

TEST_F(MempoolTest, BoundedInCountAndBytes) {
  MempoolLimits limits;
  limits.max_txs = 3;
  Mempool pool(chain, accounts, limits);
  for (std::uint64_t n = 1; n <= 3; ++n) ASSERT_TRUE(pool.add(anchor_tx(submitter, n)).ok());
  expect_refused(pool.add(anchor_tx(submitter, 4)), ErrorCode::unavailable, "full");
  EXPECT_EQ(pool.size(), 3u);

  MempoolLimits byte_limits;
  auto one = anchor_tx(submitter, 1);
  byte_limits.max_bytes = one.ByteSizeLong() + 10;
  Mempool small(chain, accounts, byte_limits);
  ASSERT_TRUE(small.add(one).ok());
  expect_refused(small.add(anchor_tx(submitter, 2)), ErrorCode::unavailable, "full");
  EXPECT_EQ(small.bytes(), one.ByteSizeLong());
}

TEST_F(MempoolTest, CommittedBlockDropsStaleNonces) {
  Mempool pool(chain, accounts);
  auto tx1 = anchor_tx(submitter, 1);
  auto tx2 = anchor_tx(submitter, 2);
  ASSERT_TRUE(pool.add(tx1).ok());
  ASSERT_TRUE(pool.add(tx2).ok());
  // Another node's block committed nonces 1 and 2 with different transactions;
  // ours can never commit now.
  accounts.accounts[submitter.public_key()].next_nonce = 3;
  pool.remove_committed({proto::tx_hash(tx1)});
  EXPECT_EQ(pool.size(), 0u);
}

}  // namespace
}  // namespace cityledger::node

namespace cityledger::node {
namespace {

pb::Transaction governance_tx(const crypto::SecretKey& key, std::uint64_t nonce) {
  pb::TxBody body;
  body.set_chain_id(chain);
  body.set_signer(key.public_key().to_string());
  body.set_nonce(nonce);
  body.mutable_governance()->set_proposal("a proposal");
  return proto::sign_transaction(body, key);
}

TEST_F(MempoolTest, GovernanceNeedsValidatorOrAdminAndPassingRules) {
  accounts.accounts[stranger.public_key()] = {{"admin"}, 1};
  Mempool pool(chain, accounts);
  expect_refused(pool.add(governance_tx(submitter, 1)), ErrorCode::permission_denied,
                 "lacks the 'validator' or 'admin' role");
  accounts.governance_verdict = error(ErrorCode::permission_denied, "2 valid approvals; 2f+1 = 3");
  expect_refused(pool.add(governance_tx(stranger, 1)), ErrorCode::permission_denied,
                 "governance: 2 valid approvals");
  accounts.governance_verdict = Status{};
  EXPECT_TRUE(pool.add(governance_tx(stranger, 1)).ok());
}

}  // namespace
}  // namespace cityledger::node
