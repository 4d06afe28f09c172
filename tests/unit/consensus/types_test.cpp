// ValidatorSet, Timeouts, names, and commit certificate verification.
#include <gtest/gtest.h>

#include <string>

#include "harness.hpp"

namespace cityledger::consensus::testing {
namespace {

TEST(ValidatorSet, QuorumsForFourAndSeven) {
  Validators four(4);
  EXPECT_EQ(four.set.max_faulty(), 1u);
  EXPECT_EQ(four.set.quorum(), 3u);
  EXPECT_EQ(four.set.weak_quorum(), 2u);
  Validators seven(7);
  EXPECT_EQ(seven.set.max_faulty(), 2u);
  EXPECT_EQ(seven.set.quorum(), 5u);
  EXPECT_EQ(seven.set.weak_quorum(), 3u);
}

TEST(ValidatorSet, ProposerRotatesRoundRobinOverRoundsAndHeights) {
  Validators v(4);
  EXPECT_EQ(v.set.proposer(1, 0), 0u);
  EXPECT_EQ(v.set.proposer(1, 1), 1u);
  EXPECT_EQ(v.set.proposer(1, 3), 3u);
  EXPECT_EQ(v.set.proposer(1, 4), 0u);
  EXPECT_EQ(v.set.proposer(2, 0), 1u);
  EXPECT_EQ(v.set.proposer(5, 0), 0u);
  // Every validator proposes exactly once in n consecutive rounds.
  std::vector<int> seen(4, 0);
  for (std::uint32_t r = 0; r < 4; ++r) ++seen[v.set.proposer(9, r)];
  EXPECT_EQ(seen, std::vector<int>(4, 1));
  // No overflow at the extremes.
  EXPECT_LT(v.set.proposer(~std::uint64_t{0}, ~std::uint32_t{0}), 4u);
}

TEST(ValidatorSet, IndexOfAndHash) {
  Validators v(4);
  EXPECT_EQ(v.set.index_of(v.keys[2].public_key()), 2u);
  EXPECT_FALSE(v.set.index_of(crypto::SecretKey::from_seed_for_testing(99).public_key()));
  Validators w(4);
  EXPECT_EQ(v.set.hash(), w.set.hash());
  EXPECT_NE(v.set.hash(), Validators(5).set.hash());
}

TEST(Timeouts, GrowWithTheRound) {
  Timeouts t;
  for (Step s : {Step::propose, Step::prevote, Step::precommit}) {
    for (std::uint32_t r = 0; r < 10; ++r)
      EXPECT_LT(t.duration_ms(s, r), t.duration_ms(s, r + 1)) << step_name(s);
  }
  EXPECT_EQ(t.duration_ms(Step::propose, 0), 1000u);
  EXPECT_EQ(t.duration_ms(Step::propose, 2), 2000u);
  EXPECT_EQ(t.duration_ms(Step::prevote, 4), 1500u);
  // Saturates rather than wrapping around to a short timeout.
  Timeouts huge;
  huge.propose_delta_ms = ~std::uint64_t{0} / 2;
  EXPECT_EQ(huge.duration_ms(Step::propose, 1000), ~std::uint64_t{0});
}

TEST(Names, EveryStepAndDropReasonHasOne) {
  EXPECT_STREQ(step_name(Step::prevote), "prevote");
  for (std::size_t i = 0; i < static_cast<std::size_t>(DropReason::count_); ++i) {
    EXPECT_STRNE(drop_reason_name(static_cast<DropReason>(i)), "unknown") << i;
  }
}

class Certificate : public ::testing::Test {
 protected:
  Validators v{4};
  Bip340Verifier verifier;
  pb::Block block = v.block(3, 1);
  BlockId id = Validators::id(block);
};

TEST_F(Certificate, AcceptsTwoFPlusOneValidSignatures) {
  EXPECT_TRUE(verify_commit_certificate(v.certificate(3, 0, id, {0, 1, 2}), chain, v.set, 3, id, verifier));
  EXPECT_TRUE(
      verify_commit_certificate(v.certificate(3, 2, id, {0, 1, 2, 3}), chain, v.set, 3, id, verifier));
}

TEST_F(Certificate, RefusesTwoFSignatures) {
  EXPECT_FALSE(verify_commit_certificate(v.certificate(3, 0, id, {1, 3}), chain, v.set, 3, id, verifier));
}

TEST_F(Certificate, RefusesDuplicatesUnsortedAndOutOfRange) {
  EXPECT_FALSE(verify_commit_certificate(v.certificate(3, 0, id, {0, 1, 1}), chain, v.set, 3, id, verifier));
  EXPECT_FALSE(verify_commit_certificate(v.certificate(3, 0, id, {2, 0, 1}), chain, v.set, 3, id, verifier));
  pb::CommitCertificate cert = v.certificate(3, 0, id, {0, 1, 2});
  cert.mutable_signatures(2)->set_validator_index(7);
  EXPECT_FALSE(verify_commit_certificate(cert, chain, v.set, 3, id, verifier));
}

TEST_F(Certificate, RefusesForgedOtherChainAndWrongBlockOrHeight) {
  pb::CommitCertificate forged = v.certificate(3, 0, id, {0, 1, 2});
  // Validator 2's slot signed by validator 3's key.
  forged.mutable_signatures(2)->set_signature(v.precommit(3, 0, id, 3).signature());
  EXPECT_FALSE(verify_commit_certificate(forged, chain, v.set, 3, id, verifier));

  pb::CommitCertificate other_chain = v.certificate(3, 0, id, {0, 1, 2});
  other_chain.mutable_signatures(0)->set_signature(
      v.vote(pb::VOTE_TYPE_PRECOMMIT, 3, 0, id, 0, "other-chain").signature());
  EXPECT_FALSE(verify_commit_certificate(other_chain, chain, v.set, 3, id, verifier));

  const pb::CommitCertificate good = v.certificate(3, 0, id, {0, 1, 2});
  EXPECT_FALSE(verify_commit_certificate(good, chain, v.set, 4, id, verifier));
  EXPECT_FALSE(verify_commit_certificate(good, chain, v.set, 3, Validators::id(v.block(3, 2)), verifier));
  EXPECT_FALSE(verify_commit_certificate(good, "other-chain", v.set, 3, id, verifier));
}

}  // namespace
}  // namespace cityledger::consensus::testing
