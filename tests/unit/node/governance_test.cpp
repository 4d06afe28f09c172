// Governance actions (docs/governance.md): every refusal has a test that
// shows the rule, and an accepted action changes exactly what it says.
#include "node/governance.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <functional>
#include <thread>
#include <vector>

#include "block_builder.hpp"
#include "node/application.hpp"
#include "node/chain_state.hpp"
#include "node/mempool.hpp"
#include "proto/codec.hpp"
#include "proto/objects.hpp"

namespace cityledger::node {
namespace {

namespace fs = std::filesystem;
constexpr const char* chain = "city-gov";

crypto::SecretKey key(std::uint64_t seed) { return crypto::SecretKey::from_seed_for_testing(seed); }

// An anchor transaction of the submitter with seed 31 (one entry per nonce).
pb::Transaction signed_anchor(std::uint64_t nonce) {
  pb::TxBody body;
  body.set_chain_id(chain);
  body.set_signer(key(31).public_key().to_string());
  body.set_nonce(nonce);
  auto* e = body.mutable_anchor()->add_entries();
  e->set_content_hash(crypto::sha256(std::to_string(nonce)).to_string());
  e->set_kind(pb::ENTRY_KIND_FILE);
  return proto::sign_transaction(body, key(31));
}

// Four validators (seeds 1..4): f = 1, 2f+1 = 3.
GovernanceState four_validators() {
  GovernanceState state;
  for (std::uint64_t i = 1; i <= 4; ++i) {
    audit::GenesisValidator v;
    v.name = "node" + std::to_string(i - 1);
    v.pubkey = key(i).public_key();
    v.tls_pubkey = Hash32::from_span(as_bytes(std::string(32, static_cast<char>('a' + i))));
    v.p2p = "127.0.0.1:" + std::to_string(26600 + 10 * i);
    state.validators.push_back(v);
  }
  return state;
}

pb::GovernanceProposal roles_proposal(const GovernanceState& state, const std::string& grant = "submitter") {
  pb::GovernanceProposal p;
  p.set_chain_id(chain);
  p.set_validator_set_hash(proto::to_field(state.validator_set().hash()));
  p.set_memo("let the sensor platform anchor");
  auto* c = p.mutable_change_roles();
  c->set_account(key(20).public_key().to_string());
  c->add_grant(grant);
  return p;
}

pb::GovernanceProposal add_proposal(const GovernanceState& state, std::uint64_t effective_height,
                                    std::uint64_t new_seed = 5) {
  pb::GovernanceProposal p;
  p.set_chain_id(chain);
  p.set_validator_set_hash(proto::to_field(state.validator_set().hash()));
  p.set_effective_height(effective_height);
  auto* v = p.mutable_add_validator()->mutable_validator();
  v->set_name("node4");
  v->set_pubkey(key(new_seed).public_key().to_string());
  v->set_tls_pubkey(std::string(32, 'z'));
  v->set_p2p("127.0.0.1:26650");
  return p;
}

pb::GovernanceProposal remove_proposal(const GovernanceState& state, std::uint64_t effective_height,
                                       std::uint64_t seed) {
  pb::GovernanceProposal p;
  p.set_chain_id(chain);
  p.set_validator_set_hash(proto::to_field(state.validator_set().hash()));
  p.set_effective_height(effective_height);
  p.mutable_remove_validator()->set_pubkey(key(seed).public_key().to_string());
  return p;
}

// The action with approvals by the validators of these seeds, in key order.
pb::GovernanceAction approved(const pb::GovernanceProposal& p, std::vector<std::uint64_t> seeds) {
  pb::GovernanceAction action;
  action.set_proposal(proto::encode(p));
  const Hash32 digest = proto::governance_digest(chain, as_bytes(action.proposal()));
  std::sort(seeds.begin(), seeds.end(),
            [](std::uint64_t a, std::uint64_t b) { return key(a).public_key() < key(b).public_key(); });
  for (auto seed : seeds) {
    auto* a = action.add_approvals();
    a->set_validator(key(seed).public_key().to_string());
    a->set_signature(key(seed).sign(digest).to_string());
  }
  return action;
}

void expect_refused(const Result<CheckedGovernance>& r, const std::string& text) {
  ASSERT_FALSE(r.ok()) << "accepted, expected: " << text;
  EXPECT_NE(r.status().message().find(text), std::string::npos) << r.status().to_string();
}

TEST(Governance, AcceptsAnActionApprovedByTwoThirdsPlusOne) {
  const auto state = four_validators();
  auto r = check_governance(approved(roles_proposal(state), {1, 2, 3}), chain, state, 10);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_TRUE(r->proposal.has_change_roles());
  auto all = check_governance(approved(roles_proposal(state), {1, 2, 3, 4}), chain, state, 10);
  EXPECT_TRUE(all.ok()) << all.status().to_string();
  auto add = check_governance(approved(add_proposal(state, 12), {2, 3, 4}), chain, state, 10);
  EXPECT_TRUE(add.ok()) << add.status().to_string();
}

TEST(Governance, RefusesTooFewApprovals) {
  const auto state = four_validators();
  expect_refused(check_governance(approved(roles_proposal(state), {1, 2}), chain, state, 10),
                 "2 valid approvals; 2f+1 = 3 of the 4 validators are needed");
  expect_refused(check_governance(approved(roles_proposal(state), {}), chain, state, 10),
                 "0 valid approvals");
}

TEST(Governance, RefusesApprovalsFromNonValidators) {
  const auto state = four_validators();
  expect_refused(check_governance(approved(roles_proposal(state), {1, 2, 9}), chain, state, 10),
                 "not a validator of the current set");
}

TEST(Governance, RefusesTamperedApprovals) {
  const auto state = four_validators();
  // A signature changed in one bit.
  auto action = approved(roles_proposal(state), {1, 2, 3});
  std::string sig = action.approvals(1).signature();
  sig[5] = static_cast<char>(sig[5] ^ 1);
  action.mutable_approvals(1)->set_signature(sig);
  expect_refused(check_governance(action, chain, state, 10), "does not verify over this proposal");
  // Approvals of one proposal carried with another.
  auto other = approved(roles_proposal(state, "partner"), {1, 2, 3});
  other.set_proposal(approved(roles_proposal(state), {}).proposal());
  expect_refused(check_governance(other, chain, state, 10), "does not verify");
  // Approvals for another chain.
  auto p = roles_proposal(state);
  auto foreign = approved(p, {1, 2, 3});
  p.set_chain_id("other-chain");
  foreign.set_proposal(proto::encode(p));
  expect_refused(check_governance(foreign, chain, state, 10), "proposal is for chain 'other-chain'");
}

TEST(Governance, RefusesDuplicateOrUnorderedApprovals) {
  const auto state = four_validators();
  auto action = approved(roles_proposal(state), {1, 2});
  *action.add_approvals() = action.approvals(1);  // the same validator twice makes no third approval
  expect_refused(check_governance(action, chain, state, 10), "strictly ascending");
  auto swapped = approved(roles_proposal(state), {1, 2, 3});
  swapped.mutable_approvals()->SwapElements(0, 2);
  expect_refused(check_governance(swapped, chain, state, 10), "strictly ascending");
}

TEST(Governance, RefusesAStaleSetHash) {
  auto state = four_validators();
  const auto action = approved(roles_proposal(state), {1, 2, 3});
  state.validators.pop_back();  // the set changed since the proposal was made
  expect_refused(check_governance(action, chain, state, 10), "stale");
}

TEST(Governance, RefusesMalformedProposals) {
  const auto state = four_validators();
  pb::GovernanceAction garbage;
  garbage.set_proposal("\xff\xff\xff");
  expect_refused(check_governance(garbage, chain, state, 10), "governance proposal:");
  auto no_action = roles_proposal(state);
  no_action.clear_change_roles();
  expect_refused(check_governance(approved(no_action, {1, 2, 3}), chain, state, 10), "no action");
  auto memo = roles_proposal(state);
  memo.set_memo(std::string(257, 'm'));
  expect_refused(check_governance(approved(memo, {1, 2, 3}), chain, state, 10), "memo");
}

TEST(Governance, RefusesAProposalAppliedBefore) {
  auto state = four_validators();
  const auto action = approved(roles_proposal(state), {1, 2, 3});
  auto first = check_governance(action, chain, state, 10);
  ASSERT_TRUE(first.ok());
  BlockGovernance in_block;
  in_block.proposals.insert(first->proposal_hash);
  expect_refused(check_governance(action, chain, state, 10, &in_block), "already applied");
  state.applied_proposals.insert(first->proposal_hash);
  expect_refused(check_governance(action, chain, state, 11), "already applied");
}

TEST(Governance, RoleChangeRules) {
  const auto state = four_validators();
  auto check = [&](const pb::GovernanceProposal& p) {
    return check_governance(approved(p, {1, 2, 3}), chain, state, 10);
  };
  expect_refused(check(roles_proposal(state, "emperor")), "unknown role 'emperor'");
  auto unordered = roles_proposal(state, "submitter");
  unordered.mutable_change_roles()->add_grant("partner");
  expect_refused(check(unordered), "ascending");
  auto both = roles_proposal(state, "partner");
  both.mutable_change_roles()->add_revoke("partner");
  expect_refused(check(both), "both granted and revoked");
  auto nothing = roles_proposal(state);
  nothing.mutable_change_roles()->clear_grant();
  expect_refused(check(nothing), "grants and revokes nothing");
  auto bad_account = roles_proposal(state);
  bad_account.mutable_change_roles()->set_account("short");
  expect_refused(check(bad_account), "account must be 32 bytes");
  auto with_height = roles_proposal(state);
  with_height.set_effective_height(20);
  expect_refused(check(with_height), "effective_height is only for validator-set changes");
}

TEST(Governance, BlockLimitRules) {
  const auto state = four_validators();
  auto limits = [&](std::uint32_t txs, std::uint64_t bytes) {
    pb::GovernanceProposal p;
    p.set_chain_id(chain);
    p.set_validator_set_hash(proto::to_field(state.validator_set().hash()));
    p.mutable_set_block_limits()->set_max_txs(txs);
    p.mutable_set_block_limits()->set_max_bytes(bytes);
    return check_governance(approved(p, {1, 2, 3}), chain, state, 10);
  };
  EXPECT_TRUE(limits(1000, 4u << 20).ok());
  expect_refused(limits(0, 4u << 20), "max_txs must be");
  expect_refused(limits(governed_block_max_txs_ceiling + 1, 4u << 20), "max_txs must be");
  expect_refused(limits(1000, governed_block_max_bytes_floor - 1), "max_bytes must be");
  expect_refused(limits(1000, governed_block_max_bytes_ceiling + 1), "max_bytes must be");
}

TEST(Governance, SetChangeEffectiveHeightRules) {
  auto state = four_validators();
  expect_refused(check_governance(approved(add_proposal(state, 0), {1, 2, 3}), chain, state, 10),
                 "needs an effective_height");
  expect_refused(check_governance(approved(add_proposal(state, 10), {1, 2, 3}), chain, state, 10),
                 "is not after the height");
  expect_refused(check_governance(approved(add_proposal(state, 5), {1, 2, 3}), chain, state, 10),
                 "is not after the height");
  expect_refused(check_governance(approved(add_proposal(state, 11 + effective_height_delay_max), {1, 2, 3}),
                                  chain, state, 10),
                 "blocks ahead");
  EXPECT_TRUE(check_governance(approved(add_proposal(state, 11), {1, 2, 3}), chain, state, 10).ok());
}

TEST(Governance, OneSetChangeAtATime) {
  auto state = four_validators();
  const auto add = approved(add_proposal(state, 20), {1, 2, 3});
  BlockGovernance in_block;
  in_block.set_change = true;
  expect_refused(check_governance(add, chain, state, 10, &in_block), "pending in the same block");
  state.pending_set_change_height = 15;
  expect_refused(check_governance(add, chain, state, 10), "pending (effective at height 15)");
  // Role changes are not set changes: they may go with a pending one.
  EXPECT_TRUE(check_governance(approved(roles_proposal(state), {1, 2, 3}), chain, state, 10, &in_block).ok());
}

TEST(Governance, ResultingSetRules) {
  const auto state = four_validators();
  auto check = [&](const pb::GovernanceProposal& p) {
    return check_governance(approved(p, {1, 2, 3}), chain, state, 10);
  };
  expect_refused(check(add_proposal(state, 20, 2)), "consensus key");  // a key already in the set
  auto same_pin = add_proposal(state, 20);
  same_pin.mutable_add_validator()->mutable_validator()->set_tls_pubkey(std::string(32, 'b'));
  expect_refused(check(same_pin), "TLS pin");
  auto same_name = add_proposal(state, 20);
  same_name.mutable_add_validator()->mutable_validator()->set_name("node1");
  expect_refused(check(same_name), "name 'node1' twice");
  auto bad_p2p = add_proposal(state, 20);
  bad_p2p.mutable_add_validator()->mutable_validator()->set_p2p("127.0.0.1");
  expect_refused(check(bad_p2p), "host:port");
  bad_p2p.mutable_add_validator()->mutable_validator()->set_p2p("127.0.0.1:99999");
  expect_refused(check(bad_p2p), "no valid port");
  expect_refused(check(remove_proposal(state, 20, 9)), "not in the current set");
  EXPECT_TRUE(check(remove_proposal(state, 20, 4)).ok());

  pb::GovernanceProposal rotate;
  rotate.set_chain_id(chain);
  rotate.set_validator_set_hash(proto::to_field(state.validator_set().hash()));
  rotate.set_effective_height(20);
  rotate.mutable_rotate_validator_keys()->set_pubkey(key(1).public_key().to_string());
  expect_refused(check(rotate), "changes nothing");
  rotate.mutable_rotate_validator_keys()->set_new_pubkey(key(2).public_key().to_string());
  expect_refused(check(rotate), "consensus key");
  rotate.mutable_rotate_validator_keys()->set_new_pubkey(key(7).public_key().to_string());
  EXPECT_TRUE(check(rotate).ok());

  // A one-validator set cannot remove its only member.
  GovernanceState one;
  one.validators.push_back(state.validators[0]);
  expect_refused(check_governance(approved(remove_proposal(one, 20, 1), {1}), chain, one, 10), "empty");
}

TEST(Governance, ChangedSetKeepsOrderAndAppends) {
  const auto state = four_validators();
  auto added = changed_validator_set(state.validators, add_proposal(state, 20));
  ASSERT_TRUE(added.ok());
  ASSERT_EQ(added->size(), 5u);
  EXPECT_EQ(added->back().name, "node4");
  auto removed = changed_validator_set(state.validators, remove_proposal(state, 20, 2));
  ASSERT_TRUE(removed.ok());
  ASSERT_EQ(removed->size(), 3u);
  EXPECT_EQ((*removed)[0].name, "node0");
  EXPECT_EQ((*removed)[1].name, "node2");
}

// ChainState applies committed role and limit changes, refuses set changes
// until the node keeps a validator schedule, and rebuilds all of it on load.
class ChainStateGovernance : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("cl_gov_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    genesis_.chain_id = chain;
    genesis_.validators = four_validators().validators;
    for (std::uint64_t i = 1; i <= 4; ++i) genesis_.accounts.push_back({key(i).public_key(), {"validator"}});
    genesis_.accounts.push_back({key(30).public_key(), {"admin"}});
    ledger::StoreOptions options;
    genesis_.hash = crypto::sha256(std::string_view("governance-test genesis"));
    options.chain_id = chain;
    options.genesis_hash = genesis_.hash;
    options.create_if_missing = true;
    auto store = ledger::Store::open(dir_, options);
    ASSERT_TRUE(store.ok()) << store.status().to_string();
    store_ = std::move(store).value();
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
  }
  pb::Block block_with(std::uint64_t height, const pb::GovernanceAction& action) {
    pb::TxBody body;
    body.set_chain_id(chain);
    body.set_signer(key(30).public_key().to_string());
    body.set_nonce(height);
    *body.mutable_governance() = action;
    pb::Block block;
    block.mutable_header()->set_height(height);
    *block.add_txs() = proto::sign_transaction(body, key(30));
    return block;
  }
  fs::path dir_;
  audit::Genesis genesis_;
  std::unique_ptr<ledger::Store> store_;
};

TEST_F(ChainStateGovernance, AppliesRolesAndLimits) {
  ChainState state(genesis_, *store_);
  const auto gov = state.governance();
  EXPECT_FALSE(state.account(key(20).public_key()));
  const auto grant = approved(roles_proposal(gov), {1, 2, 3});
  ASSERT_TRUE(state.check_governance(grant).ok()) << state.check_governance(grant).to_string();
  state.apply(block_with(1, grant));
  auto account = state.account(key(20).public_key());
  ASSERT_TRUE(account);
  EXPECT_TRUE(account->roles.contains("submitter"));
  // The same proposal cannot be applied twice; a revoke is a new proposal.
  EXPECT_EQ(state.check_governance(grant).code(), ErrorCode::already_exists);
  auto revoke = roles_proposal(gov);
  revoke.mutable_change_roles()->clear_grant();
  revoke.mutable_change_roles()->add_revoke("submitter");
  state.apply(block_with(2, approved(revoke, {2, 3, 4})));
  EXPECT_FALSE(state.account(key(20).public_key()));  // no roles left: not an account

  pb::GovernanceProposal limits;
  limits.set_chain_id(chain);
  limits.set_validator_set_hash(proto::to_field(gov.validator_set().hash()));
  limits.mutable_set_block_limits()->set_max_txs(77);
  limits.mutable_set_block_limits()->set_max_bytes(2u << 20);
  EXPECT_FALSE(state.governed_block_limits());
  state.apply(block_with(3, approved(limits, {1, 2, 4})));
  ASSERT_TRUE(state.governed_block_limits());
  EXPECT_EQ(state.governed_block_limits()->max_txs, 77u);
  EXPECT_EQ(state.governed_block_limits()->max_bytes, 2u << 20);
}

// An addition committed at height 1 takes effect at height 4; then a rotation
// of the new validator's consensus key, approved by the 5-validator set,
// takes effect at height 8.
TEST_F(ChainStateGovernance, AdditionsAndRotationsTakeEffectAtTheirHeight) {
  ChainState state(genesis_, *store_);
  const auto add = approved(add_proposal(state.governance(), 4), {1, 2, 3});
  ASSERT_TRUE(state.check_governance(add).ok()) << state.check_governance(add).to_string();
  state.apply(block_with(1, add));
  for (std::uint64_t h = 2; h <= 3; ++h) {
    pb::Block empty;
    empty.mutable_header()->set_height(h);
    state.apply(empty);
  }
  EXPECT_EQ(state.validator_set_at(3).size(), 4u);
  ASSERT_EQ(state.validator_set_at(4).size(), 5u);
  EXPECT_EQ(state.validator_set_at(4).index_of(key(5).public_key()), 4u);
  EXPECT_EQ(state.validators_at(4).back().name, "node4");

  pb::GovernanceProposal rotate;
  rotate.set_chain_id(chain);
  rotate.set_validator_set_hash(proto::to_field(state.governance().validator_set().hash()));
  rotate.set_effective_height(8);
  rotate.mutable_rotate_validator_keys()->set_pubkey(key(5).public_key().to_string());
  rotate.mutable_rotate_validator_keys()->set_new_pubkey(key(6).public_key().to_string());
  // The set in charge is now five: 2f+1 = 4 approvals, the new validator's among them allowed.
  EXPECT_FALSE(state.check_governance(approved(rotate, {1, 2, 3})).ok());
  const auto rotation = approved(rotate, {1, 2, 3, 5});
  ASSERT_TRUE(state.check_governance(rotation).ok()) << state.check_governance(rotation).to_string();
  state.apply(block_with(4, rotation));
  EXPECT_EQ(state.validator_set_at(7).index_of(key(5).public_key()), 4u);
  EXPECT_FALSE(state.validator_set_at(8).index_of(key(5).public_key()));
  EXPECT_EQ(state.validator_set_at(8).index_of(key(6).public_key()), 4u);
  EXPECT_EQ(state.validators_at(8).back().tls_pubkey, state.validators_at(7).back().tls_pubkey);
  EXPECT_EQ(state.set_changes().size(), 2u);
}

// A removal committed at height 3 with effective height 6: heights 1..5 keep
// the genesis set, 6 on the new one; while it is pending no other set change
// is admitted, and proposals must then name the new set.
TEST_F(ChainStateGovernance, ScheduleTakesASetChangeAtItsEffectiveHeight) {
  ChainState state(genesis_, *store_);
  const auto genesis_set = state.validator_set_at(1);
  state.apply(block_with(1, approved(roles_proposal(state.governance()), {1, 2, 3})));
  pb::Block empty;
  empty.mutable_header()->set_height(2);
  state.apply(empty);
  const auto removal = approved(remove_proposal(state.governance(), 6, 4), {1, 2, 3});
  ASSERT_TRUE(state.check_governance(removal).ok()) << state.check_governance(removal).to_string();
  state.apply(block_with(3, removal));

  for (std::uint64_t h = 1; h <= 5; ++h) EXPECT_EQ(state.validator_set_at(h).hash(), genesis_set.hash()) << h;
  const auto after = state.validator_set_at(6);
  ASSERT_EQ(after.size(), 3u);
  EXPECT_FALSE(after.index_of(key(4).public_key()));
  EXPECT_EQ(state.validator_set_at(100).hash(), after.hash());
  ASSERT_EQ(state.set_changes().size(), 1u);
  EXPECT_EQ(state.set_changes().begin()->first, 6u);
  // What proof bundles carry: the committed action and the set it produced, from its height on.
  EXPECT_TRUE(state.set_changes_up_to(5).empty());
  const auto records = state.set_changes_up_to(6);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].effective_height, 6u);
  EXPECT_EQ(records[0].action.proposal(), removal.proposal());
  EXPECT_EQ(records[0].action.approvals_size(), removal.approvals_size());
  EXPECT_EQ(records[0].validators.size(), 3u);

  // Pending: a second change is refused until height 6 is in charge.
  const auto second = approved(remove_proposal(state.governance(), 9, 3), {1, 2, 3});
  const Status pending = state.check_governance(second);
  EXPECT_NE(pending.message().find("pending (effective at height 6)"), std::string::npos)
      << pending.to_string();
  EXPECT_EQ(state.governance_at(4).pending_set_change_height, std::optional<std::uint64_t>(6));
  EXPECT_FALSE(state.governance_at(6).pending_set_change_height);

  // At height 6 the old set's proposals are stale and approvals come from the new set only.
  BlockGovernance none;
  const Status stale = state.check_governance_in_block(second, 6, none);
  EXPECT_NE(stale.message().find("stale"), std::string::npos) << stale.to_string();
  const auto grant_by_new_set = approved(roles_proposal(state.governance_at(6), "partner"), {1, 2, 3});
  EXPECT_TRUE(state.check_governance_in_block(grant_by_new_set, 6, none).ok());
  BlockGovernance fresh;
  const auto with_removed = approved(roles_proposal(state.governance_at(6), "admin"), {1, 2, 4});
  const Status removed = state.check_governance_in_block(with_removed, 6, fresh);
  EXPECT_NE(removed.message().find("not a validator of the current set"), std::string::npos)
      << removed.to_string();

  // Proof bundles carry set changes, so a set smaller than genesis's quorum (3) is
  // admitted like any other (it was refused while verify knew only the genesis set).
  const auto below = approved(remove_proposal(state.governance_at(6), 9, 3), {1, 2, 3});
  const Status small = state.check_governance_in_block(below, 6, fresh);
  EXPECT_TRUE(small.ok()) << small.to_string();
  EXPECT_TRUE(fresh.set_change);
}

pb::Transaction admin_tx(std::uint64_t nonce, const pb::GovernanceAction& action) {
  pb::TxBody body;
  body.set_chain_id(chain);
  body.set_signer(key(30).public_key().to_string());
  body.set_nonce(nonce);
  *body.mutable_governance() = action;
  return proto::sign_transaction(body, key(30));
}

// Block validation applies the same rules as the mempool, and the block
// builder leaves out what a block cannot carry.
TEST_F(ChainStateGovernance, BlockValidationAndBuildingApplyTheRules) {
  ChainState state(genesis_, *store_);
  Mempool pool(chain, state);
  const auto gov = state.governance();
  Application app(genesis_, *store_, pool, state, BlockLimits{});
  auto with_txs = [&](std::vector<pb::Transaction> txs) {
    pb::Block block = app.build_block(1, {}, 0, 1'000);
    for (auto& tx : txs) *block.add_txs() = std::move(tx);
    block.mutable_header()->set_tx_count(static_cast<std::uint32_t>(block.txs_size()));
    block.mutable_header()->set_txs_root(proto::to_field(proto::txs_root(block.txs())));
    return app.validate_block(block, 1'000);
  };
  const auto grant = roles_proposal(gov);
  EXPECT_TRUE(with_txs({admin_tx(1, approved(grant, {1, 2, 3}))}).ok());
  Status few = with_txs({admin_tx(1, approved(grant, {1, 2}))});
  EXPECT_NE(few.message().find("transaction 0: governance: 2 valid approvals"), std::string::npos)
      << few.to_string();
  Status twice = with_txs({admin_tx(1, approved(grant, {1, 2, 3})), admin_tx(2, approved(grant, {2, 3, 4}))});
  EXPECT_NE(twice.message().find("transaction 1: governance: this proposal was already applied"),
            std::string::npos)
      << twice.to_string();

  Status two_changes = with_txs({admin_tx(1, approved(remove_proposal(gov, 9, 4), {1, 2, 3})),
                                 admin_tx(2, approved(remove_proposal(gov, 9, 3), {1, 2, 4}))});
  EXPECT_NE(
      two_changes.message().find("transaction 1: governance: another validator-set change is pending in the "
                                 "same block"),
      std::string::npos)
      << two_changes.to_string();

  // Both carriers of one proposal passed the mempool (neither was applied
  // yet); the builder takes the first and evicts the second.
  ASSERT_TRUE(pool.add(admin_tx(1, approved(grant, {1, 2, 3}))).ok());
  ASSERT_TRUE(pool.add(admin_tx(2, approved(grant, {2, 3, 4}))).ok());
  const pb::Block built = app.build_block(1, {}, 0, 1'000);
  EXPECT_EQ(built.txs_size(), 1);
  EXPECT_EQ(pool.size(), 1u);
  EXPECT_TRUE(app.validate_block(built, 1'000).ok());
}

TEST_F(ChainStateGovernance, GovernedLimitsReplaceConfiguredOnes) {
  ChainState state(genesis_, *store_);
  Mempool pool(chain, state);
  const auto gov = state.governance();
  Application app(genesis_, *store_, pool, state, BlockLimits{});
  EXPECT_EQ(app.effective_limits().max_txs, BlockLimits{}.max_txs);
  pb::GovernanceProposal limits;
  limits.set_chain_id(chain);
  limits.set_validator_set_hash(proto::to_field(gov.validator_set().hash()));
  limits.mutable_set_block_limits()->set_max_txs(1);
  limits.mutable_set_block_limits()->set_max_bytes(2u << 20);
  state.apply(block_with(1, approved(limits, {1, 2, 3})));
  EXPECT_EQ(app.effective_limits().max_txs, 1u);
  EXPECT_EQ(app.effective_limits().max_bytes, 2u << 20);
}

TEST(GovernanceRoles, ValidatorOrAdminCarriesGovernance) {
  pb::TxBody body;
  body.mutable_governance();
  AccountState admin{{"admin"}, 1}, validator{{"validator"}, 1}, submitter{{"submitter"}, 1};
  EXPECT_TRUE(holds_required_role(admin, body));
  EXPECT_TRUE(holds_required_role(validator, body));
  EXPECT_FALSE(holds_required_role(submitter, body));
  EXPECT_EQ(required_roles_text(body), "'validator' or 'admin'");
}

}  // namespace
}  // namespace cityledger::node

namespace cityledger::node {
namespace {

// The committed state from a snapshot plus the later blocks is the state from
// every block; a snapshot that does not fit the store is not used.
class ChainStateSnapshot : public ChainStateGovernance {
 protected:
  // Stores a block with `action` (a governance transaction of the admin) and applies it to `state`.
  void commit(ChainState& state, const pb::GovernanceAction& action) {
    const std::uint64_t height = store_->last_height() + 1;
    pb::Block block = block_with(height, action);
    block.clear_header();
    auto committed = ledger::testing::BlockBuilder(chain, genesis_.hash).wrap(*store_, std::move(block));
    ASSERT_TRUE(store_->apply_block(committed.block, committed.commit).ok());
    state.apply(committed.block);
  }
  Hash32 head_hash() const { return store_->head().block_hash; }
  // The state a ChainState loaded with `snapshot` has (and whether it used it).
  std::pair<std::string, bool> loaded(const pb::StateSnapshot& snapshot) {
    ChainState state(genesis_, *store_);
    bool used = false;
    EXPECT_TRUE(state.load(snapshot, &used).ok());
    return {state.snapshot(head_hash()).SerializeAsString(), used};
  }
};

TEST_F(ChainStateSnapshot, SnapshotPlusLaterBlocksIsTheReplayedState) {
  ChainState state(genesis_, *store_);
  commit(state, approved(roles_proposal(state.governance()), {1, 2, 3}));
  commit(state, approved(add_proposal(state.governance(), 6), {1, 2, 3}));
  const pb::StateSnapshot at2 = state.snapshot(head_hash());
  EXPECT_EQ(at2.height(), 2u);
  EXPECT_EQ(at2.schedule_size(), 2);
  pb::GovernanceProposal limits;
  limits.set_chain_id(chain);
  limits.set_validator_set_hash(proto::to_field(state.governance().validator_set().hash()));
  limits.mutable_set_block_limits()->set_max_txs(9);
  limits.mutable_set_block_limits()->set_max_bytes(1u << 20);
  commit(state, approved(limits, {2, 3, 4}));
  const std::string expected = state.snapshot(head_hash()).SerializeAsString();

  ChainState replayed(genesis_, *store_);
  ASSERT_TRUE(replayed.load().ok());
  EXPECT_EQ(replayed.snapshot(head_hash()).SerializeAsString(), expected);
  EXPECT_EQ(loaded(at2), std::make_pair(expected, true));
  ChainState from_snapshot(genesis_, *store_);
  ASSERT_TRUE(from_snapshot.load(at2).ok());
  EXPECT_EQ(from_snapshot.validator_set_at(6).size(), 5u);
  ASSERT_TRUE(from_snapshot.governed_block_limits());
  EXPECT_EQ(from_snapshot.governed_block_limits()->max_txs, 9u);
  EXPECT_TRUE(from_snapshot.account(key(20).public_key()));
  EXPECT_EQ(from_snapshot.set_changes_up_to(6).size(), 1u);

  // Each of these is refused and every block replayed instead: same state.
  auto changed = [&](auto edit) {
    pb::StateSnapshot copy = at2;
    edit(copy);
    return loaded(copy);
  };
  const auto replayed_all = std::make_pair(expected, false);
  EXPECT_EQ(changed([](pb::StateSnapshot& s) { s.set_block_hash(std::string(32, '\x01')); }), replayed_all);
  EXPECT_EQ(changed([](pb::StateSnapshot& s) { s.set_height(4); }), replayed_all);
  EXPECT_EQ(changed([](pb::StateSnapshot& s) { s.set_format(2); }), replayed_all);
  EXPECT_EQ(changed([](pb::StateSnapshot& s) { s.set_chain_id("other"); }), replayed_all);
  EXPECT_EQ(
      changed([](pb::StateSnapshot& s) { s.mutable_schedule(0)->mutable_validators(0)->set_name("x"); }),
      replayed_all);
  EXPECT_EQ(changed([](pb::StateSnapshot& s) { s.mutable_schedule(1)->clear_action(); }), replayed_all);
  EXPECT_EQ(changed([](pb::StateSnapshot& s) { s.mutable_accounts(0)->set_pubkey("short"); }), replayed_all);
  EXPECT_EQ(changed([](pb::StateSnapshot& s) { *s.add_accounts() = s.accounts(0); }), replayed_all);
}

// Transactions the mempool has not verified are checked in parallel when the
// node gives Application a parallel_for: the verdicts, and the first broken
// transaction named, are those of the one-by-one check.
TEST_F(ChainStateGovernance, ParallelSignatureChecksGiveTheSameVerdicts) {
  genesis_.accounts.push_back({key(31).public_key(), {"submitter"}});
  ChainState state(genesis_, *store_);
  Mempool pool(chain, state);
  Application serial(genesis_, *store_, pool, state, BlockLimits{});
  Application parallel(genesis_, *store_, pool, state, BlockLimits{});
  std::atomic<int> calls{0};
  parallel.set_parallel_for([&](std::size_t n, const std::function<void(std::size_t)>& work) {
    ++calls;
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < 3; ++t) {
      threads.emplace_back([&, t] {
        for (std::size_t i = t; i < n; i += 3) work(i);
      });
    }
    for (auto& th : threads) th.join();
  });
  std::vector<pb::Transaction> txs;
  for (std::uint64_t nonce = 1; nonce <= 40; ++nonce) {
    txs.push_back(signed_anchor(nonce));
  }
  auto block_of = [&](const std::vector<pb::Transaction>& list) {
    pb::Block block = serial.build_block(1, {}, 0, 1'000);
    for (const auto& tx : list) *block.add_txs() = tx;
    block.mutable_header()->set_tx_count(static_cast<std::uint32_t>(block.txs_size()));
    block.mutable_header()->set_txs_root(proto::to_field(proto::txs_root(block.txs())));
    auto leaves = ledger::log_leaf_hashes(block);
    EXPECT_TRUE(leaves.ok());
    const auto log = store_->log_head_after(leaves.ok() ? *leaves : std::vector<Hash32>{});
    block.mutable_header()->set_log_size(log.size);
    block.mutable_header()->set_log_root(proto::to_field(log.root));
    return block;
  };
  const pb::Block good = block_of(txs);
  const Status serial_good = serial.validate_block(good, 1'000);
  EXPECT_TRUE(serial_good.ok()) << serial_good.to_string();
  EXPECT_TRUE(parallel.validate_block(good, 1'000).ok());
  auto bad_txs = txs;
  bad_txs[37].mutable_signature()->back() ^= 0x01;
  bad_txs[12].mutable_signature()->front() ^= 0x01;
  const pb::Block bad = block_of(bad_txs);
  const Status one_by_one = serial.validate_block(bad, 1'000);
  const Status spread = parallel.validate_block(bad, 1'000);
  EXPECT_NE(one_by_one.message().find("transaction 12: "), std::string::npos) << one_by_one.to_string();
  EXPECT_EQ(spread.to_string(), one_by_one.to_string());
  EXPECT_EQ(calls.load(), 2);
}

}  // namespace
}  // namespace cityledger::node

namespace cityledger::node {
namespace {

// A certificate for `block` with the precommits of the validators of these seeds.
pb::CommitCertificate certificate_of(const pb::Block& block, const consensus::ValidatorSet& set,
                                     std::vector<std::uint64_t> seeds) {
  pb::CommitCertificate cert;
  cert.set_height(block.header().height());
  cert.set_round(0);
  cert.set_block_id(proto::block_hash(block.header()).to_string());
  std::vector<std::pair<std::uint32_t, std::uint64_t>> signers;
  for (auto seed : seeds) signers.emplace_back(*set.index_of(key(seed).public_key()), seed);
  std::sort(signers.begin(), signers.end());
  for (const auto& [index, seed] : signers) {
    pb::Vote vote;
    vote.set_type(pb::VOTE_TYPE_PRECOMMIT);
    vote.set_height(cert.height());
    vote.set_round(0);
    vote.set_block_id(cert.block_id());
    vote.set_validator_index(index);
    proto::sign_vote(vote, chain, key(seed));
    auto* s = cert.add_signatures();
    s->set_validator_index(index);
    s->set_signature(vote.signature());
  }
  return cert;
}

// A proposal's last_commit: the signatures this node committed the previous
// block with are not verified again, and every other one still is. The
// verdicts are those of a node that committed nothing itself (it reads the
// previous block from the store and verifies every signature).
TEST_F(ChainStateGovernance, LastCommitSignaturesAlreadyVerifiedAreTrustedOnlyWhenIdentical) {
  ChainState state(genesis_, *store_);
  Mempool pool(chain, state);
  Application app(genesis_, *store_, pool, state, BlockLimits{});
  const auto set = state.validator_set_at(1);
  const pb::Block first = app.build_block(1, {}, 0, 1'000);
  ASSERT_TRUE(app.commit(first, certificate_of(first, set, {1, 2, 3})).ok());

  auto proposal_with = [&](const pb::CommitCertificate& last_commit) {
    return app.build_block(2, last_commit, 1, 2'000);
  };
  // Another quorum than ours: the signature of seed 4 is new here.
  const pb::Block good = proposal_with(certificate_of(first, set, {2, 3, 4}));
  auto forged = certificate_of(first, set, {2, 3, 4});
  for (auto& s : *forged.mutable_signatures()) {
    if (s.validator_index() == *set.index_of(key(4).public_key())) s.mutable_signature()->back() ^= 0x01;
  }
  const pb::Block bad_new = proposal_with(forged);
  // One of our own signatures moved to another validator's index.
  auto moved = certificate_of(first, set, {1, 2, 3});
  std::swap(*moved.mutable_signatures(0)->mutable_signature(),
            *moved.mutable_signatures(1)->mutable_signature());
  const pb::Block bad_moved = proposal_with(moved);
  pb::Block backwards = good;
  backwards.mutable_header()->set_time_unix_ms(first.header().time_unix_ms());

  Application fresh(genesis_, *store_, pool, state, BlockLimits{});
  for (Application* validator : {&app, &fresh}) {
    const Status ok = validator->validate_block(good, 2'000);
    EXPECT_TRUE(ok.ok()) << ok.to_string();
    EXPECT_NE(validator->validate_block(bad_new, 2'000).message().find("last_commit is not a valid commit"),
              std::string::npos);
    EXPECT_NE(validator->validate_block(bad_moved, 2'000).message().find("last_commit is not a valid commit"),
              std::string::npos);
    EXPECT_NE(validator->validate_block(backwards, 2'000).message().find("block time does not move forward"),
              std::string::npos);
  }
}

// Transactions block validation verified (a proposal that outran their
// gossip) are admitted later without a second signature check; a copy that
// differs in any byte is still verified, and refused.
TEST_F(ChainStateGovernance, ValidatedTransactionsAreNotVerifiedAgainWhenTheirGossipArrives) {
  genesis_.accounts.push_back({key(31).public_key(), {"submitter"}});
  ChainState state(genesis_, *store_);
  Mempool proposer_pool(chain, state);
  Mempool pool(chain, state);
  Application proposer(genesis_, *store_, proposer_pool, state, BlockLimits{});
  Application validator(genesis_, *store_, pool, state, BlockLimits{});
  std::vector<pb::Transaction> txs;
  for (std::uint64_t nonce = 1; nonce <= 5; ++nonce) {
    txs.push_back(signed_anchor(nonce));
    ASSERT_TRUE(proposer_pool.add(txs.back()).ok());
  }
  const pb::Block block = proposer.build_block(1, {}, 0, 1'000);
  ASSERT_EQ(block.txs_size(), 5);
  ASSERT_TRUE(validator.validate_block(block, 1'000).ok());
  EXPECT_EQ(pool.size(), 0u);  // validation admits nothing itself

  pb::Transaction tampered = txs[0];
  tampered.mutable_signature()->back() ^= 0x01;
  auto refused = pool.add(tampered);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), ErrorCode::permission_denied) << refused.status().to_string();
  for (const auto& tx : txs) EXPECT_TRUE(pool.add(tx).ok());
  EXPECT_EQ(pool.stats().signature_checks_skipped, 5u);
  EXPECT_EQ(pool.stats().accepted, 5u);
}

}  // namespace
}  // namespace cityledger::node
