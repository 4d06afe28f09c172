// Proof bundles across validator-set changes (docs/proof-format.md,
// "validator_sets"): real signed bundles whose checkpoint is signed by a set
// that governance changes produced from genesis, and every way such a chain of
// changes can be wrong.
#include "audit/set_change.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "audit/proof_bundle.hpp"
#include "audit/validator_sets.hpp"
#include "consensus/types.hpp"
#include "crypto/checkpoint.hpp"
#include "crypto/merkle.hpp"
#include "crypto/sha256.hpp"
#include "proto/codec.hpp"
#include "proto/objects.hpp"

namespace cityledger::audit {
namespace {

using nlohmann::json;

constexpr const char* chain = "city-test";

// Genesis v0..v3 (keys 0..3); keys 4 and 5 are for an added validator and a rotation.
class SetChangeBundle : public ::testing::Test {
 protected:
  void SetUp() override {
    genesis.chain_id = chain;
    for (int i = 0; i < 6; ++i) keys.push_back(crypto::SecretKey::from_seed_for_testing(40 + i));
    for (int i = 0; i < 4; ++i) genesis.validators.push_back(member(i));
    for (int i = 0; i < 3; ++i) {
      pb::LogEntry e;
      e.mutable_entry()->set_content_hash(crypto::sha256("file " + std::to_string(i)).to_string());
      e.mutable_entry()->set_kind(pb::ENTRY_KIND_FILE);
      e.set_submitter(keys[0].public_key().to_string());
      e.set_tx_hash(crypto::sha256(std::string_view("tx")).to_string());
      e.set_index_in_tx(static_cast<std::uint32_t>(i));
      e.set_height(2);
      e.set_time_unix_ms(1'790'000'000'000);
      leaf_bytes.push_back(proto::log_entry_bytes(e));
      leaves.push_back(proto::log_leaf_hash(e));
    }
  }

  GenesisValidator member(int key_index) const {
    return {"v" + std::to_string(key_index), keys[static_cast<std::size_t>(key_index)].public_key(),
            crypto::sha256("pin " + std::to_string(key_index)),
            "10.0.0." + std::to_string(key_index) + ":7000"};
  }

  static pb::GovernanceProposal proposal_for(const std::vector<GenesisValidator>& before,
                                             std::uint64_t effective) {
    pb::GovernanceProposal p;
    p.set_chain_id(chain);
    p.set_validator_set_hash(validator_set_hash(before).to_string());
    p.set_effective_height(effective);
    p.set_memo("test change at " + std::to_string(effective));
    return p;
  }
  pb::GovernanceProposal remove(const std::vector<GenesisValidator>& before, std::uint64_t effective,
                                int key_index) const {
    auto p = proposal_for(before, effective);
    p.mutable_remove_validator()->set_pubkey(
        keys[static_cast<std::size_t>(key_index)].public_key().to_string());
    return p;
  }
  pb::GovernanceProposal add(const std::vector<GenesisValidator>& before, std::uint64_t effective,
                             int key_index) const {
    auto p = proposal_for(before, effective);
    const GenesisValidator m = member(key_index);
    auto* v = p.mutable_add_validator()->mutable_validator();
    v->set_name(m.name);
    v->set_pubkey(m.pubkey.to_string());
    v->set_tls_pubkey(m.tls_pubkey.to_string());
    v->set_p2p(m.p2p);
    return p;
  }

  // One "validator_sets" entry: the proposal approved by `signers` (key indexes), in ascending key order.
  json change(const pb::GovernanceProposal& proposal, std::vector<int> signers,
              const std::vector<GenesisValidator>& after) const {
    const std::string bytes = proto::encode(proposal);
    const Hash32 digest = proto::governance_digest(chain, as_bytes(bytes));
    std::sort(signers.begin(), signers.end(), [this](int a, int b) {
      return keys[static_cast<std::size_t>(a)].public_key() < keys[static_cast<std::size_t>(b)].public_key();
    });
    json approvals = json::array();
    for (int i : signers) {
      const auto& k = keys[static_cast<std::size_t>(i)];
      approvals.push_back({{"validator", k.public_key().hex()}, {"signature", k.sign(digest).hex()}});
    }
    json validators = json::array();
    for (const auto& v : after) {
      validators.push_back(
          {{"name", v.name}, {"pubkey", v.pubkey.hex()}, {"tls_pubkey", v.tls_pubkey.hex()}, {"p2p", v.p2p}});
    }
    return {{"effective_height", proposal.effective_height()},
            {"proposal", to_hex(as_bytes(bytes))},
            {"approvals", approvals},
            {"validators", validators}};
  }

  // A bundle for leaf 1 whose checkpoint of `height` is signed by `signers` (key indexes).
  json bundle(std::uint64_t height, const std::vector<int>& signers, json sets) const {
    crypto::CheckpointBody body{chain, leaves.size(), crypto::merkle::root(leaves), height,
                                crypto::sha256("block " + std::to_string(height))};
    const std::string text = body.to_text();
    json sigs = json::array();
    for (int i : signers) {
      const auto& k = keys[static_cast<std::size_t>(i)];
      sigs.push_back({{"validator", k.public_key().hex()},
                      {"signature", k.sign(crypto::checkpoint_digest(text)).hex()}});
    }
    json path = json::array();
    for (const auto& p : crypto::merkle::inclusion_path(leaves, 1).value()) path.push_back(p.hex());
    auto decoded = decode_log_entry(as_bytes(leaf_bytes[1]));
    EXPECT_TRUE(decoded.ok());
    return {{"format", "cityledger-proof/1"},
            {"chain_id", chain},
            {"entry", json::parse(entry_json(as_bytes(leaf_bytes[1]), *decoded).dump())},
            {"leaf_index", 1},
            {"inclusion", {{"tree_size", leaves.size()}, {"path", path}}},
            {"checkpoint", {{"body", text}, {"signatures", sigs}}},
            {"validator_sets", std::move(sets)}};
  }

  // The sets after removing v3 at height 6 (approved by v0..v2) and then v2 at
  // height 7 (approved by v0..v2, the quorum of three).
  std::vector<GenesisValidator> three() const { return {member(0), member(1), member(2)}; }
  std::vector<GenesisValidator> two() const { return {member(0), member(1)}; }
  json two_removals() const {
    return json::array({change(remove(genesis.validators, 6, 3), {0, 1, 2}, three()),
                        change(remove(three(), 7, 2), {0, 1, 2}, two())});
  }

  // The name of the first failed check ("" when verified).
  std::string failure(const json& b) const {
    const Verdict v = verify_proof_bundle(b, genesis);
    for (const auto& c : v.checks) {
      if (!c.passed) return c.name;
    }
    EXPECT_TRUE(v.verified);
    return "";
  }

  Genesis genesis;
  std::vector<crypto::SecretKey> keys;
  std::vector<std::string> leaf_bytes;
  std::vector<Hash32> leaves;
};

TEST_F(SetChangeBundle, SetHashIsTheConsensusSetHash) {
  std::vector<crypto::PublicKey> pubkeys;
  for (const auto& v : genesis.validators) pubkeys.push_back(v.pubkey);
  EXPECT_EQ(validator_set_hash(genesis.validators), consensus::ValidatorSet(pubkeys).hash());
}

TEST_F(SetChangeBundle, AcceptsACheckpointOfTheLaterApprovedSet) {
  // Two signatures are the quorum of the two-validator set in charge at height 8.
  const Verdict v = verify_proof_bundle(bundle(8, {0, 1}, two_removals()), genesis);
  EXPECT_TRUE(v.verified) << v.first_failure();
  EXPECT_EQ(v.quorum, 2u);
  EXPECT_EQ(v.signers, 2u);
  // Without the changes, genesis's set (quorum 3) is in charge: the same checkpoint fails.
  EXPECT_EQ(failure(bundle(8, {0, 1}, json::array())), "checkpoint_quorum");
  // At the first change's height, the three-validator set is in charge.
  EXPECT_EQ(failure(bundle(6, {0, 1, 2}, json::array({two_removals()[0]}))), "");
  // The "validators" list is optional.
  json sets = two_removals();
  sets[0].erase("validators");
  sets[1].erase("validators");
  EXPECT_EQ(failure(bundle(8, {0, 1}, sets)), "");
}

TEST_F(SetChangeBundle, RejectsACheckpointSignedByTheRemovedSet) {
  // The old set, removed validators included, signs after the changes: v2 and v3
  // are not members at height 8, and every signature a bundle carries must count.
  EXPECT_EQ(failure(bundle(8, {0, 1, 2, 3}, two_removals())), "checkpoint_quorum");
  EXPECT_EQ(failure(bundle(7, {0, 2, 3}, two_removals())), "checkpoint_quorum");
  // At the first change's height already: v3 is out.
  EXPECT_EQ(failure(bundle(6, {1, 2, 3}, json::array({two_removals()[0]}))), "checkpoint_quorum");
}

TEST_F(SetChangeBundle, AddAndRotateAreFollowed) {
  // Remove v3 at 6, add v4 at 7 (approved by the three), rotate v4's key to key 5 at 9.
  std::vector<GenesisValidator> four = three();
  four.push_back(member(4));
  auto rotate = proposal_for(four, 9);
  rotate.mutable_rotate_validator_keys()->set_pubkey(keys[4].public_key().to_string());
  rotate.mutable_rotate_validator_keys()->set_new_pubkey(keys[5].public_key().to_string());
  std::vector<GenesisValidator> rotated = four;
  rotated[3].pubkey = keys[5].public_key();
  const json sets =
      json::array({change(remove(genesis.validators, 6, 3), {0, 1, 2}, three()),
                   change(add(three(), 7, 4), {0, 1, 2}, four), change(rotate, {0, 1, 4}, rotated)});
  EXPECT_EQ(failure(bundle(9, {0, 1, 5}, sets)), "");
  EXPECT_EQ(failure(bundle(9, {0, 1, 4}, sets)), "checkpoint_quorum");  // the old key of v4
  EXPECT_EQ(failure(bundle(8, {0, 1, 4}, json::array({sets[0], sets[1]}))), "");
}

TEST_F(SetChangeBundle, RejectsASetThatWasNeverApproved) {
  // Too few approvals: two of four.
  json sets = json::array({change(remove(genesis.validators, 6, 3), {0, 1}, three())});
  EXPECT_EQ(failure(bundle(6, {0, 1, 2}, sets)), "set_change_approvals");
  // Enough approvals, but one by a stranger (key 4).
  sets = json::array({change(remove(genesis.validators, 6, 3), {0, 1, 4}, three())});
  EXPECT_EQ(failure(bundle(6, {0, 1, 2}, sets)), "set_change_approvals");
  // The second change approved by the removed validator v3 instead of v2.
  sets = json::array({two_removals()[0], change(remove(three(), 7, 2), {0, 1, 3}, two())});
  EXPECT_EQ(failure(bundle(8, {0, 1}, sets)), "set_change_approvals");
  // Approvals over other bytes: signatures of a different proposal.
  sets = two_removals();
  sets[0]["approvals"] =
      change(remove(genesis.validators, 6, 2), {0, 1, 2}, {member(0), member(1), member(3)})["approvals"];
  EXPECT_EQ(failure(bundle(8, {0, 1}, sets)), "set_change_approvals");
  // One approval given twice to reach the count.
  sets = json::array({change(remove(genesis.validators, 6, 3), {0, 1}, three())});
  sets[0]["approvals"].push_back(sets[0]["approvals"][1]);
  EXPECT_EQ(failure(bundle(6, {0, 1, 2}, sets)), "set_change_approvals");
  // A duplicate besides a quorum: refused too, as the node never commits one.
  sets = json::array({change(remove(genesis.validators, 6, 3), {0, 1, 2}, three())});
  sets[0]["approvals"].push_back(sets[0]["approvals"][0]);
  EXPECT_EQ(failure(bundle(6, {0, 1, 2}, sets)), "set_change_approvals");
}

TEST_F(SetChangeBundle, RejectsTamperedApprovalsAndProposals) {
  const json good = bundle(8, {0, 1}, two_removals());
  ASSERT_EQ(failure(good), "");
  // A signature byte.
  json b = good;
  std::string sig = b["validator_sets"][0]["approvals"][0]["signature"];
  sig[10] = sig[10] == '0' ? '1' : '0';
  b["validator_sets"][0]["approvals"][0]["signature"] = sig;
  EXPECT_EQ(failure(b), "set_change_approvals");
  // Every byte of each proposal: a flipped bit is never accepted.
  for (std::size_t change_index = 0; change_index < 2; ++change_index) {
    const std::string hex = good["validator_sets"][change_index]["proposal"];
    auto bytes = from_hex(hex).value();
    for (std::size_t i = 0; i < bytes.size(); ++i) {
      auto changed = bytes;
      changed[i] ^= 0x01;
      b = good;
      b["validator_sets"][change_index]["proposal"] = to_hex(changed);
      EXPECT_NE(failure(b), "") << "change " << change_index << " byte " << i;
    }
  }
  // The readable set or the effective height changed.
  b = good;
  b["validator_sets"][1]["validators"][0]["p2p"] = "10.9.9.9:7000";
  EXPECT_EQ(failure(b), "set_change_validators");
  b = good;
  b["validator_sets"][1]["effective_height"] = 8;
  EXPECT_EQ(failure(b), "set_change_effective_height");
  b = good;
  b["validator_sets"][0]["extra"] = 1;
  EXPECT_EQ(failure(b), "set_change_shape");
}

TEST_F(SetChangeBundle, RejectsChangesOutOfOrderOrStale) {
  const json sets = two_removals();
  // Effective heights going backwards, each change otherwise valid.
  const json backwards = json::array({change(remove(genesis.validators, 7, 3), {0, 1, 2}, three()),
                                      change(remove(three(), 6, 2), {0, 1, 2}, two())});
  EXPECT_EQ(failure(bundle(8, {0, 1}, backwards)), "set_change_order");
  // Swapped entries: the first now names the set that only the other produces.
  EXPECT_EQ(failure(bundle(8, {0, 1}, json::array({sets[1], sets[0]}))), "set_change_set_hash");
  // The second change named the genesis set (stale): approved by members, but not of the set before it.
  json stale = json::array({sets[0], change(remove(genesis.validators, 7, 2), {0, 1, 2}, two())});
  EXPECT_EQ(failure(bundle(8, {0, 1}, stale)), "set_change_set_hash");
  // Two changes at one height.
  json same = json::array({sets[0], change(remove(three(), 6, 2), {0, 1, 2}, two())});
  EXPECT_EQ(failure(bundle(8, {0, 1}, same)), "set_change_order");
  // A change at height 1 (genesis's) or after the checkpoint.
  EXPECT_EQ(failure(bundle(8, {0, 1, 2},
                           json::array({change(remove(genesis.validators, 1, 3), {0, 1, 2}, three())}))),
            "set_change_order");
  EXPECT_EQ(failure(bundle(6, {0, 1, 2}, sets)), "set_change_height");
  // Another chain's proposal.
  auto other = remove(genesis.validators, 6, 3);
  other.set_chain_id("other-chain");
  EXPECT_EQ(failure(bundle(6, {0, 1, 2}, json::array({change(other, {0, 1, 2}, three())}))),
            "set_change_chain");
  // Removing a validator that is not in the set.
  EXPECT_EQ(failure(bundle(8, {0, 1, 2},
                           json::array({sets[0], change(remove(three(), 7, 3), {0, 1, 2}, three())}))),
            "set_change_apply");
}

// What `cityledger watch` rests on (rpc/src/cli/watch.cpp): the schedule of
// sets followed from genesis, a served checkpoint counted against the set in
// charge at its height, and a node's set history compared with the kept one.
TEST_F(SetChangeBundle, ScheduleNamesTheSetInChargeAtEachHeight) {
  auto schedule = follow_validator_sets(two_removals(), genesis, 8);
  ASSERT_TRUE(schedule.ok()) << schedule.status().to_string();
  ASSERT_EQ(schedule->sets.size(), 3u);
  auto keys_at = [&](std::uint64_t h) {
    std::vector<crypto::PublicKey> out;
    for (const auto& v : schedule->at(h)) out.push_back(v.pubkey);
    return out;
  };
  auto keys_of = [](const std::vector<GenesisValidator>& set) {
    std::vector<crypto::PublicKey> out;
    for (const auto& v : set) out.push_back(v.pubkey);
    return out;
  };
  EXPECT_EQ(keys_at(0), keys_of(genesis.validators));
  EXPECT_EQ(keys_at(1), keys_of(genesis.validators));
  EXPECT_EQ(keys_at(5), keys_of(genesis.validators));
  EXPECT_EQ(keys_at(6), keys_of(three()));
  EXPECT_EQ(keys_at(7), keys_of(two()));
  EXPECT_EQ(keys_at(1000), keys_of(two()));
  // The checks a bundle reports, and the first failure as the error.
  std::vector<Check> checks;
  ASSERT_TRUE(follow_validator_sets(two_removals(), genesis, 8, &checks).ok());
  EXPECT_FALSE(checks.empty());
  EXPECT_TRUE(std::all_of(checks.begin(), checks.end(), [](const Check& c) { return c.passed; }));
  auto late = follow_validator_sets(two_removals(), genesis, 6);
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.status().message().rfind("set_change_height: ", 0), 0u) << late.status().message();
  json tampered = two_removals();
  tampered[1]["approvals"][0]["signature"] = tampered[1]["approvals"][1]["signature"];
  auto bad = follow_validator_sets(tampered, genesis, 8);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message().rfind("set_change_approvals: ", 0), 0u) << bad.status().message();
  EXPECT_FALSE(follow_validator_sets(json::object(), genesis, 8).ok());
  EXPECT_FALSE(follow_validator_sets(json::array({json::array()}), genesis, 8).ok());
}

TEST_F(SetChangeBundle, CheckpointsCountAgainstTheSetInChargeAtTheirHeight) {
  const auto schedule = follow_validator_sets(two_removals(), genesis, 8).value();
  const auto genesis_only = follow_validator_sets(json::array(), genesis, 8).value();
  auto counted = [&](std::uint64_t height, const std::vector<int>& signers, const ValidatorSchedule& s) {
    return count_checkpoint_signatures(bundle(height, signers, json::array())["checkpoint"], genesis, s);
  };
  // After both removals, v0 and v1 are a quorum; against genesis's set alone
  // this was a false alarm (2 of 4, quorum 3).
  auto ok = counted(8, {0, 1}, schedule);
  ASSERT_TRUE(ok.ok()) << ok.status().to_string();
  EXPECT_EQ(ok->signers, 2u);
  EXPECT_EQ(ok->quorum, 2u);
  EXPECT_EQ(ok->body.height, 8u);
  EXPECT_FALSE(counted(8, {0, 1}, genesis_only).ok());
  // The removed v2 and v3 do not count after their removal; against genesis's
  // set alone they did, and v1..v3 passed.
  EXPECT_TRUE(counted(8, {1, 2, 3}, genesis_only).ok());
  auto removed = counted(8, {1, 2, 3}, schedule);
  ASSERT_FALSE(removed.ok());
  EXPECT_NE(removed.status().message().find("1 valid signatures of the 2 validators"), std::string::npos)
      << removed.status().message();
  // Signatures of removed validators besides a quorum are ignored, and listed.
  auto extra = counted(8, {0, 1, 2, 3}, schedule);
  ASSERT_TRUE(extra.ok());
  EXPECT_EQ(extra->signers, 2u);
  EXPECT_EQ(extra->ignored.size(), 2u);
  // Before the first change genesis's set is in charge: v3 still counts, and two are too few.
  EXPECT_TRUE(counted(5, {1, 2, 3}, schedule).ok());
  EXPECT_FALSE(counted(5, {0, 1}, schedule).ok());
  // At height 6, the three-validator set: v3 is out, v0..v2 are its quorum.
  EXPECT_TRUE(counted(6, {0, 1, 2}, schedule).ok());
  EXPECT_FALSE(counted(6, {0, 1, 3}, schedule).ok());
  // A tampered signature is not counted; another chain's checkpoint is refused.
  json cp = bundle(8, {0, 1}, json::array())["checkpoint"];
  std::string sig = cp["signatures"][0]["signature"];
  sig[3] = sig[3] == 'a' ? 'b' : 'a';
  cp["signatures"][0]["signature"] = sig;
  EXPECT_FALSE(count_checkpoint_signatures(cp, genesis, schedule).ok());
  Genesis other = genesis;
  other.chain_id = "other-chain";
  EXPECT_FALSE(
      count_checkpoint_signatures(bundle(8, {0, 1}, json::array())["checkpoint"], other, schedule).ok());
}

TEST_F(SetChangeBundle, ANodesSetHistoryMustBeTheKeptOne) {
  const json kept = two_removals();
  EXPECT_TRUE(check_same_set_history(kept, kept, 8).ok());
  EXPECT_TRUE(check_same_set_history(json::array(), kept, 8).ok());  // nothing kept yet
  // A lagging node's checkpoint of height 6 needs only the first change.
  EXPECT_TRUE(check_same_set_history(kept, json::array({kept[0]}), 6).ok());
  EXPECT_TRUE(check_same_set_history(kept, json::array(), 5).ok());
  // Omitting a change in charge at the checkpoint's height: the history forks.
  EXPECT_FALSE(check_same_set_history(kept, json::array({kept[0]}), 7).ok());
  EXPECT_FALSE(check_same_set_history(kept, json::array(), 6).ok());
  // Another second change (v1 removed instead of v2), valid in itself.
  const json other = json::array({kept[0], change(remove(three(), 7, 1), {0, 1, 2}, {member(0), member(2)})});
  ASSERT_TRUE(follow_validator_sets(other, genesis, 8).ok());
  auto fork = check_same_set_history(kept, other, 8);
  ASSERT_FALSE(fork.ok());
  EXPECT_NE(fork.message().find("forks"), std::string::npos) << fork.message();
  // The same change with its approvals in another order is another record.
  json reordered = kept;
  std::swap(reordered[0]["approvals"][0], reordered[0]["approvals"][1]);
  EXPECT_FALSE(check_same_set_history(kept, reordered, 8).ok());
}

TEST(SetChangeReader, ReadsSetChangesAndRefusesOtherActions) {
  pb::GovernanceProposal p;
  p.set_chain_id(chain);
  p.set_validator_set_hash(crypto::sha256(std::string_view("set")).to_string());
  p.set_effective_height(12);
  p.set_memo("why");
  p.mutable_rotate_validator_keys()->set_pubkey(crypto::sha256(std::string_view("k")).to_string());
  p.mutable_rotate_validator_keys()->set_new_tls_pubkey(crypto::sha256(std::string_view("pin")).to_string());
  auto read = decode_set_change_proposal(as_bytes(proto::encode(p)));
  ASSERT_TRUE(read.ok()) << read.status().to_string();
  EXPECT_EQ(read->chain_id, chain);
  EXPECT_EQ(read->effective_height, 12u);
  EXPECT_EQ(read->memo, "why");
  EXPECT_EQ(read->kind, SetChangeKind::rotate_validator_keys);
  EXPECT_EQ(read->pubkey, crypto::sha256(std::string_view("k")));
  EXPECT_FALSE(read->new_pubkey);
  ASSERT_TRUE(read->new_tls_pubkey);
  EXPECT_EQ(*read->new_tls_pubkey, crypto::sha256(std::string_view("pin")));

  pb::GovernanceProposal roles = p;
  roles.mutable_change_roles()->set_account(crypto::sha256(std::string_view("a")).to_string());
  roles.mutable_change_roles()->add_grant("submitter");
  auto refused = decode_set_change_proposal(as_bytes(proto::encode(roles)));
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("not a validator-set change"), std::string::npos);

  const std::string with_unknown = proto::encode(p) + std::string("\x78\x01", 2);  // field 15
  EXPECT_FALSE(decode_set_change_proposal(as_bytes(with_unknown)).ok());
}

}  // namespace
}  // namespace cityledger::audit
