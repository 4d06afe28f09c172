// The Tendermint rules of the core, driven by hand: one core, inputs in,
// outputs read directly. n = 4 (f = 1) unless a test says otherwise; the core
// under test is validator 3 unless it needs to be someone else. Proposers at
// height 1: round r -> validator r mod n.
#include <gtest/gtest.h>

#include "harness.hpp"
#include "proto/codec.hpp"

namespace cityledger::consensus::testing {
namespace {

using pb::VOTE_TYPE_PRECOMMIT;
using pb::VOTE_TYPE_PREVOTE;

std::optional<BlockId> id_of(const pb::Vote& vote) {
  if (vote.block_id().empty()) return std::nullopt;
  return Hash32::from_span(as_bytes(vote.block_id()));
}

class CoreTest : public ::testing::Test {
 protected:
  Validators v{4};
  pb::Block a = v.block(1, 1);
  pb::Block b = v.block(1, 2);
  BlockId id_a = Validators::id(a);
  BlockId id_b = Validators::id(b);

  // Validator 3 at height 1, round 0: got A's proposal, prevoted A, saw a
  // polka for A, precommitted and locked A.
  void lock_on_a_in_round_0(Driver& d) {
    (void)d.feed(Start{});
    (void)d.proposal(v.proposal(a, 0));
    (void)d.vote(v.prevote(1, 0, id_a, 0));
    (void)d.vote(v.prevote(1, 0, id_a, 1));
    ASSERT_EQ(d.core.locked_round(), 0);
    ASSERT_EQ(d.core.locked_block(), id_a);
    ASSERT_EQ(d.core.step(), Step::precommit);
  }
};

// ------------------------------------------------------ the happy path

TEST_F(CoreTest, PersistsBeforeBroadcastAndCountsOwnVoteOnlyAfterPersisted) {
  Driver d(v.config(3), /*auto_persist=*/false);
  (void)d.feed(Start{});
  std::vector<Output> out = d.proposal(v.proposal(a, 0));
  const auto persists = all_of<Persist>(out);
  ASSERT_EQ(persists.size(), 1u);
  EXPECT_EQ(count_of<Broadcast>(out), 0u);
  EXPECT_EQ(d.core.held_messages(), 1u);
  EXPECT_EQ(d.core.stats().votes_accepted, 0u);
  const pb::SignState& state = persists[0].state;
  EXPECT_EQ(state.height(), 1u);
  EXPECT_EQ(state.round(), 0u);
  EXPECT_EQ(state.step(), 2u);
  EXPECT_EQ(state.block_id(), id_a.to_string());
  EXPECT_EQ(state.locked_round(), -1);
  ASSERT_TRUE(state.message().has_vote());
  EXPECT_TRUE(proto::verify_vote(state.message().vote(), chain, v.keys[3].public_key()));

  // Other messages keep being processed while the prevote is held.
  out = d.vote(v.prevote(1, 0, id_a, 0));
  EXPECT_EQ(count_of<Broadcast>(out), 0u);

  out = d.feed(Persisted{state});
  const auto sent = all_of<Broadcast>(out);
  ASSERT_GE(sent.size(), 1u);
  EXPECT_EQ(proto::encode(sent[0].envelope), proto::encode(state.message()));
  EXPECT_EQ(d.core.held_messages(), 0u);
  EXPECT_EQ(d.core.stats().votes_accepted, 2u);
}

TEST_F(CoreTest, CommitsWithCertificateAndMovesToNextHeight) {
  Driver d(v.config(3));
  lock_on_a_in_round_0(d);
  EXPECT_EQ(count_of<Commit>(d.vote(v.precommit(1, 0, id_a, 1))), 0u);
  const std::vector<Output> out = d.vote(v.precommit(1, 0, id_a, 0));
  const auto commits = all_of<Commit>(out);
  ASSERT_EQ(commits.size(), 1u);
  EXPECT_EQ(Validators::id(commits[0].block), id_a);
  const pb::CommitCertificate& cert = commits[0].certificate;
  ASSERT_EQ(cert.signatures_size(), 3);
  EXPECT_EQ(cert.signatures(0).validator_index(), 0u);
  EXPECT_EQ(cert.signatures(1).validator_index(), 1u);
  EXPECT_EQ(cert.signatures(2).validator_index(), 3u);
  EXPECT_TRUE(verify_commit_certificate(cert, chain, v.set, 1, id_a, d.verifier));
  EXPECT_TRUE(d.core.decided());
  EXPECT_EQ(d.core.stats().commits, 1u);

  // Nothing more happens at this height until the application says so.
  EXPECT_TRUE(d.timeout(1, 0, Step::precommit).empty());
  (void)d.feed(CommitApplied{1, v.set});
  EXPECT_EQ(d.core.height(), 2u);
  EXPECT_EQ(d.core.round(), 0u);
  EXPECT_EQ(d.core.step(), Step::propose);
  EXPECT_EQ(d.core.locked_round(), -1);
  EXPECT_FALSE(d.core.decided());
}

TEST_F(CoreTest, ProposerBuildsSignsAndPrevotesItsOwnBlock) {
  Driver d(v.config(0));
  const auto builds = all_of<BuildBlock>(d.feed(Start{}));
  ASSERT_EQ(builds.size(), 1u);
  EXPECT_EQ(builds[0].height, 1u);
  EXPECT_EQ(builds[0].round, 0u);
  EXPECT_EQ(builds[0].last_commit.signatures_size(), 0);
  const std::vector<Output> out = d.feed(BlockBuilt{1, 0, a});
  EXPECT_EQ(count_of<ValidateBlock>(out), 0u);  // its own block is valid
  const auto sent = all_of<Broadcast>(out);
  ASSERT_EQ(sent.size(), 2u);
  ASSERT_TRUE(sent[0].envelope.has_proposal());
  const pb::Proposal& p = sent[0].envelope.proposal().proposal();
  EXPECT_EQ(p.pol_round(), -1);
  EXPECT_EQ(p.block_id(), id_a.to_string());
  EXPECT_TRUE(proto::verify_proposal(p, chain, v.keys[0].public_key()));
  ASSERT_TRUE(sent[1].envelope.has_vote());
  EXPECT_EQ(id_of(sent[1].envelope.vote()), id_a);
  // A late BlockBuilt for the same round is ignored: never two proposals.
  EXPECT_TRUE(all_of<Persist>(d.feed(BlockBuilt{1, 0, b})).empty());
}

TEST_F(CoreTest, ProposerReproposesItsValidValueWithPolRoundAndRelaysThePolka) {
  Driver d(v.config(1));  // proposer of height 1, round 1
  (void)d.feed(Start{});
  (void)d.proposal(v.proposal(a, 0));
  (void)d.vote(v.prevote(1, 0, id_a, 0));
  (void)d.vote(v.prevote(1, 0, id_a, 2));
  EXPECT_EQ(d.core.valid_round(), 0);
  EXPECT_EQ(d.core.valid_block(), id_a);
  const std::vector<Output> out = d.timeout(1, 0, Step::precommit);
  EXPECT_EQ(count_of<BuildBlock>(out), 0u);
  std::optional<pb::Proposal> proposal;
  std::size_t relayed = 0;
  for (const auto& s : all_of<Broadcast>(out)) {
    if (s.envelope.has_proposal()) proposal = s.envelope.proposal().proposal();
    if (s.envelope.has_vote() && s.envelope.vote().round() == 0 &&
        s.envelope.vote().type() == VOTE_TYPE_PREVOTE)
      ++relayed;
  }
  ASSERT_TRUE(proposal);
  EXPECT_EQ(proposal->round(), 1u);
  EXPECT_EQ(proposal->pol_round(), 0);
  EXPECT_EQ(proposal->block_id(), id_a.to_string());
  EXPECT_GE(relayed, 3u);  // the 2f+1 prevotes that justify pol_round
}

// ------------------------------------------------------ locking

TEST_F(CoreTest, LockedValidatorPrevotesNilForAnotherBlockWithoutProofOfLock) {
  Driver d(v.config(3));
  lock_on_a_in_round_0(d);
  (void)d.timeout(1, 0, Step::precommit);
  ASSERT_EQ(d.core.round(), 1u);
  const std::vector<Output> out = d.proposal(v.proposal(b, 1));
  const auto prevotes = votes_of(out, 3, VOTE_TYPE_PREVOTE);
  ASSERT_EQ(prevotes.size(), 1u);
  EXPECT_EQ(prevotes[0].round(), 1u);
  EXPECT_FALSE(id_of(prevotes[0]));
  EXPECT_EQ(d.core.locked_block(), id_a);
  EXPECT_EQ(d.core.locked_round(), 0);
}

TEST_F(CoreTest, LockedValidatorPrevotesForItsLockedBlockAgain) {
  Driver d(v.config(3));
  lock_on_a_in_round_0(d);
  (void)d.timeout(1, 0, Step::precommit);
  const auto prevotes = votes_of(d.proposal(v.proposal(a, 1)), 3, VOTE_TYPE_PREVOTE);
  ASSERT_EQ(prevotes.size(), 1u);
  EXPECT_EQ(id_of(prevotes[0]), id_a);
}

TEST_F(CoreTest, LaterPolkaInTheSameRoundRelocks) {
  // Locked on A in round 0; in round 1 it prevotes nil for B (lock), then sees
  // 2f+1 prevotes for B in round 1: it precommits B and locks B at round 1.
  Driver d(v.config(3));
  lock_on_a_in_round_0(d);
  (void)d.timeout(1, 0, Step::precommit);
  (void)d.proposal(v.proposal(b, 1));
  (void)d.vote(v.prevote(1, 1, id_b, 0));
  (void)d.vote(v.prevote(1, 1, id_b, 1));
  const std::vector<Output> out = d.vote(v.prevote(1, 1, id_b, 2));
  const auto precommits = votes_of(out, 3, VOTE_TYPE_PRECOMMIT);
  ASSERT_EQ(precommits.size(), 1u);
  EXPECT_EQ(id_of(precommits[0]), id_b);
  EXPECT_EQ(d.core.locked_round(), 1);
  EXPECT_EQ(d.core.locked_block(), id_b);
}

TEST_F(CoreTest, ProposalWithNewerPolRoundUnlocks) {
  Driver d(v.config(3));
  lock_on_a_in_round_0(d);
  (void)d.timeout(1, 0, Step::precommit);
  // Round 1: a polka for B that this validator sees without B's proposal.
  for (std::uint32_t i : {0u, 1u, 2u}) (void)d.vote(v.prevote(1, 1, id_b, i));
  (void)d.timeout(1, 1, Step::propose);
  (void)d.timeout(1, 1, Step::prevote);
  (void)d.timeout(1, 1, Step::precommit);
  ASSERT_EQ(d.core.round(), 2u);
  EXPECT_EQ(d.core.locked_round(), 0);
  // Round 2: B re-proposed with pol_round 1 > locked_round 0: prevote B.
  const auto prevotes = votes_of(d.proposal(v.proposal(b, 2, 1)), 3, VOTE_TYPE_PREVOTE);
  ASSERT_EQ(prevotes.size(), 1u);
  EXPECT_EQ(id_of(prevotes[0]), id_b);
  for (std::uint32_t i : {0u, 1u}) (void)d.vote(v.prevote(1, 2, id_b, i));
  EXPECT_EQ(d.core.locked_round(), 2);
  EXPECT_EQ(d.core.locked_block(), id_b);
}

TEST_F(CoreTest, ProposalWithOlderPolRoundThanTheLockIsRefused) {
  Driver d(v.config(3));
  (void)d.feed(Start{});
  // Round 0: a polka for B without its proposal; the round times out.
  for (std::uint32_t i : {0u, 1u, 2u}) (void)d.vote(v.prevote(1, 0, id_b, i));
  (void)d.timeout(1, 0, Step::propose);
  (void)d.timeout(1, 0, Step::prevote);
  (void)d.timeout(1, 0, Step::precommit);
  // Round 1: lock on A.
  (void)d.proposal(v.proposal(a, 1));
  for (std::uint32_t i : {0u, 1u}) (void)d.vote(v.prevote(1, 1, id_a, i));
  ASSERT_EQ(d.core.locked_round(), 1);
  (void)d.timeout(1, 1, Step::precommit);
  // Round 2: B with pol_round 0 < locked_round 1: prevote nil.
  const auto prevotes = votes_of(d.proposal(v.proposal(b, 2, 0)), 3, VOTE_TYPE_PREVOTE);
  ASSERT_EQ(prevotes.size(), 1u);
  EXPECT_FALSE(id_of(prevotes[0]));
  EXPECT_EQ(d.core.locked_block(), id_a);
}

TEST_F(CoreTest, ProposalWithPolRoundWaitsForThePolkaThatJustifiesIt) {
  Driver d(v.config(3));
  (void)d.feed(Start{});
  (void)d.timeout(1, 0, Step::propose);
  (void)d.timeout(1, 0, Step::prevote);
  (void)d.timeout(1, 0, Step::precommit);
  ASSERT_EQ(d.core.round(), 1u);
  EXPECT_TRUE(votes_of(d.proposal(v.proposal(b, 1, 0)), 3, VOTE_TYPE_PREVOTE).empty());
  (void)d.vote(v.prevote(1, 0, id_b, 0));
  (void)d.vote(v.prevote(1, 0, id_b, 1));
  const auto prevotes = votes_of(d.vote(v.prevote(1, 0, id_b, 2)), 3, VOTE_TYPE_PREVOTE);
  ASSERT_EQ(prevotes.size(), 1u);
  EXPECT_EQ(prevotes[0].round(), 1u);
  EXPECT_EQ(id_of(prevotes[0]), id_b);
}

// ------------------------------------------------------ quorums

class QuorumTest : public ::testing::TestWithParam<std::uint32_t> {};

TEST_P(QuorumTest, CommitsWithExactlyTwoFPlusOnePrecommitsNeverWithTwoF) {
  Validators v(GetParam());
  const std::uint32_t quorum = v.set.quorum();
  const pb::Block a = v.block(1, 1);
  const BlockId id = Validators::id(a);
  Driver d(v.config(std::nullopt));  // a follower: only others' votes count
  (void)d.feed(Start{});
  (void)d.proposal(v.proposal(a, 0));
  for (std::uint32_t i = 0; i + 1 < quorum; ++i) {
    EXPECT_EQ(count_of<Commit>(d.vote(v.precommit(1, 0, id, i))), 0u) << "after " << i + 1;
  }
  EXPECT_FALSE(d.core.decided());
  const auto commits = all_of<Commit>(d.vote(v.precommit(1, 0, id, quorum - 1)));
  ASSERT_EQ(commits.size(), 1u);
  EXPECT_EQ(static_cast<std::uint32_t>(commits[0].certificate.signatures_size()), quorum);
}

TEST_P(QuorumTest, TwoFForOneBlockPlusTheRestForOthersDoesNotCommit) {
  Validators v(GetParam());
  const std::uint32_t two_f = v.set.quorum() - 1;
  const pb::Block a = v.block(1, 1);
  const pb::Block b = v.block(1, 2);
  Driver d(v.config(std::nullopt));
  (void)d.feed(Start{});
  (void)d.proposal(v.proposal(a, 0));
  std::vector<Output> all;
  for (std::uint32_t i = 0; i < two_f; ++i) {
    auto out = d.vote(v.precommit(1, 0, Validators::id(a), i));
    all.insert(all.end(), out.begin(), out.end());
  }
  // The rest: nil, another block, and A again but in another round.
  auto out = d.vote(v.precommit(1, 0, std::nullopt, two_f));
  all.insert(all.end(), out.begin(), out.end());
  for (std::uint32_t i = two_f + 1; i < v.set.size(); ++i) {
    out = d.vote(v.precommit(1, 0, Validators::id(b), i));
    all.insert(all.end(), out.begin(), out.end());
  }
  out = d.vote(v.precommit(1, 1, Validators::id(a), two_f));
  all.insert(all.end(), out.begin(), out.end());
  EXPECT_EQ(count_of<Commit>(all), 0u);
  EXPECT_FALSE(d.core.decided());
}

INSTANTIATE_TEST_SUITE_P(FourAndSeven, QuorumTest, ::testing::Values(4u, 7u));

TEST_F(CoreTest, NilPrecommitsDoNotCommitButEndTheRound) {
  Driver d(v.config(3));
  (void)d.feed(Start{});
  std::vector<Output> all;
  for (std::uint32_t i : {0u, 1u, 2u}) {
    auto out = d.vote(v.precommit(1, 0, std::nullopt, i));
    all.insert(all.end(), out.begin(), out.end());
  }
  EXPECT_EQ(count_of<Commit>(all), 0u);
  bool precommit_timeout = false;
  for (const auto& t : all_of<ScheduleTimeout>(all))
    precommit_timeout |= t.step == Step::precommit && t.round == 0;
  EXPECT_TRUE(precommit_timeout);
  (void)d.timeout(1, 0, Step::precommit);
  EXPECT_EQ(d.core.round(), 1u);
}

TEST_F(CoreTest, TwoFPlusOneNilPrevotesGiveANilPrecommit) {
  Driver d(v.config(3));
  (void)d.feed(Start{});
  (void)d.timeout(1, 0, Step::propose);  // prevote nil
  (void)d.vote(v.prevote(1, 0, std::nullopt, 0));
  const auto precommits = votes_of(d.vote(v.prevote(1, 0, std::nullopt, 1)), 3, VOTE_TYPE_PRECOMMIT);
  ASSERT_EQ(precommits.size(), 1u);
  EXPECT_FALSE(id_of(precommits[0]));
  EXPECT_EQ(d.core.locked_round(), -1);
}

TEST_F(CoreTest, CommitsFromAnEarlierRound) {
  Driver d(v.config(3));
  (void)d.feed(Start{});
  (void)d.proposal(v.proposal(a, 0));
  (void)d.timeout(1, 0, Step::propose);
  (void)d.timeout(1, 0, Step::prevote);
  (void)d.timeout(1, 0, Step::precommit);
  ASSERT_EQ(d.core.round(), 1u);
  std::size_t commits = 0;
  for (std::uint32_t i : {0u, 1u, 2u}) commits += count_of<Commit>(d.vote(v.precommit(1, 0, id_a, i)));
  EXPECT_EQ(commits, 1u);
}

// ------------------------------------------------------ pacemaker

TEST_F(CoreTest, TimeoutsGrowWithTheRound) {
  Driver d(v.config(3));
  std::vector<std::uint64_t> propose_ms;
  auto collect = [&](const std::vector<Output>& out) {
    for (const auto& t : all_of<ScheduleTimeout>(out))
      if (t.step == Step::propose) propose_ms.push_back(t.duration_ms);
  };
  collect(d.feed(Start{}));
  for (std::uint32_t r = 0; r < 3; ++r) {
    collect(d.timeout(1, r, Step::propose));
    collect(d.timeout(1, r, Step::prevote));
    collect(d.timeout(1, r, Step::precommit));
  }
  EXPECT_EQ(propose_ms, (std::vector<std::uint64_t>{1000, 1500, 2000, 2500}));
}

TEST_F(CoreTest, ProposerRotatesWithTheRound) {
  Driver d(v.config(2));
  EXPECT_EQ(count_of<BuildBlock>(d.feed(Start{})), 0u);
  for (std::uint32_t r = 0; r < 2; ++r) {
    (void)d.timeout(1, r, Step::propose);
    (void)d.timeout(1, r, Step::prevote);
    const auto builds = all_of<BuildBlock>(d.timeout(1, r, Step::precommit));
    EXPECT_EQ(builds.size(), r == 1 ? 1u : 0u) << "round " << r + 1;
  }
}

TEST_F(CoreTest, TimeoutProposePrevotesNilAndStaleTimeoutsAreIgnored) {
  Driver d(v.config(3));
  (void)d.feed(Start{});
  const auto prevotes = votes_of(d.timeout(1, 0, Step::propose), 3, VOTE_TYPE_PREVOTE);
  ASSERT_EQ(prevotes.size(), 1u);
  EXPECT_FALSE(id_of(prevotes[0]));
  EXPECT_TRUE(d.timeout(2, 0, Step::propose).empty());
  EXPECT_TRUE(d.timeout(1, 5, Step::prevote).empty());
}

TEST_F(CoreTest, SkipsToAHigherRoundOnFPlusOneValidators) {
  Driver d(v.config(3));
  (void)d.feed(Start{});
  (void)d.vote(v.prevote(1, 5, std::nullopt, 0));
  EXPECT_EQ(d.core.round(), 0u);
  const std::vector<Output> out = d.vote(v.precommit(1, 7, std::nullopt, 1));
  EXPECT_EQ(d.core.round(), 5u);  // the highest round f+1 validators have reached
  bool scheduled = false;
  for (const auto& t : all_of<ScheduleTimeout>(out)) scheduled |= t.round == 5 && t.step == Step::propose;
  EXPECT_TRUE(scheduled);
}

TEST_F(CoreTest, FarFutureRoundsAreNotStoredButStillMoveThePacemaker) {
  Driver d(v.config(3));
  (void)d.feed(Start{});
  (void)d.vote(v.prevote(1, 1000, std::nullopt, 0));
  (void)d.vote(v.prevote(1, 1000, std::nullopt, 1));
  EXPECT_EQ(dropped(d.core, DropReason::future_round), 2u);
  EXPECT_EQ(d.core.round(), 1000u);
}

TEST_F(CoreTest, RetransmitsOwnMessagesWhenARoundTimesOut) {
  Driver d(v.config(3));
  (void)d.feed(Start{});
  (void)d.proposal(v.proposal(a, 0));
  const std::vector<Output> out = d.timeout(1, 0, Step::propose);
  EXPECT_EQ(count_of<Persist>(out), 0u);
  const auto prevotes = votes_of(out, 3, VOTE_TYPE_PREVOTE);
  ASSERT_EQ(prevotes.size(), 1u);
  EXPECT_EQ(id_of(prevotes[0]), id_a);
  bool prevote_timeout = false;
  for (const auto& t : all_of<ScheduleTimeout>(out)) prevote_timeout |= t.step == Step::prevote;
  EXPECT_TRUE(prevote_timeout);
}

TEST_F(CoreTest, RelaysThePreviousCommitToAPeerLeftBehind) {
  Driver d(v.config(3));
  lock_on_a_in_round_0(d);
  (void)d.vote(v.precommit(1, 0, id_a, 0));
  (void)d.vote(v.precommit(1, 0, id_a, 1));
  (void)d.feed(CommitApplied{1, v.set});
  ASSERT_EQ(d.core.height(), 2u);
  (void)d.vote(v.prevote(1, 1, std::nullopt, 2));  // validator 2 is still at height 1
  EXPECT_EQ(dropped(d.core, DropReason::old_height), 1u);
  std::size_t relayed = 0;
  for (const auto& s : all_of<Broadcast>(d.timeout(2, 0, Step::propose))) {
    relayed += s.envelope.has_vote() && s.envelope.vote().height() == 1 ? 1 : 0;
  }
  EXPECT_EQ(relayed, 3u);
}

// ------------------------------------------------------ drops

TEST_F(CoreTest, DropsAndCountsBadMessages) {
  Driver d(v.config(3, /*height=*/2));
  (void)d.feed(Start{});
  const pb::Block block = v.block(2, 1);
  const BlockId id = Validators::id(block);

  pb::Vote impostor = v.prevote(2, 0, id, 1);
  proto::sign_vote(impostor, chain, v.keys[2]);  // validator 1's vote signed by validator 2
  (void)d.vote(impostor);
  (void)d.vote(v.vote(VOTE_TYPE_PREVOTE, 2, 0, id, 1, "other-chain"));
  pb::Vote outsider = v.prevote(2, 0, id, 1);
  outsider.set_validator_index(9);
  (void)d.vote(outsider);
  (void)d.vote(v.prevote(1, 0, id, 1));
  pb::Vote no_type = v.prevote(2, 0, id, 1);
  no_type.set_type(pb::VOTE_TYPE_UNSPECIFIED);
  (void)d.vote(no_type);
  pb::Vote short_id = v.prevote(2, 0, id, 1);
  short_id.set_block_id("abc");
  (void)d.vote(short_id);
  EXPECT_EQ(dropped(d.core, DropReason::bad_signature), 2u);
  EXPECT_EQ(dropped(d.core, DropReason::not_a_validator), 1u);
  EXPECT_EQ(dropped(d.core, DropReason::old_height), 1u);
  EXPECT_EQ(dropped(d.core, DropReason::malformed), 2u);
  EXPECT_EQ(d.core.stats().votes_accepted, 0u);

  (void)d.vote(v.prevote(2, 0, id, 1));
  (void)d.vote(v.prevote(2, 0, id, 1));
  EXPECT_EQ(dropped(d.core, DropReason::duplicate), 1u);
  EXPECT_EQ(d.core.stats().votes_accepted, 1u);

  // Proposals: height 2, round 0 is validator 1's.
  (void)d.proposal(v.proposal(block, 0, -1, /*proposer=*/2));
  EXPECT_EQ(dropped(d.core, DropReason::wrong_proposer), 1u);
  pb::ProposalMessage mismatch = v.proposal(block, 0);
  *mismatch.mutable_block() = v.block(2, 7);
  (void)d.proposal(mismatch);
  EXPECT_EQ(dropped(d.core, DropReason::block_mismatch), 1u);
  pb::ProposalMessage unsigned_proposal = v.proposal(block, 0);
  unsigned_proposal.mutable_proposal()->set_signature(std::string(64, '\1'));
  (void)d.proposal(unsigned_proposal);
  EXPECT_EQ(dropped(d.core, DropReason::bad_signature), 3u);
  EXPECT_EQ(d.core.stats().proposals_accepted, 0u);
  (void)d.proposal(v.proposal(block, 0));
  (void)d.proposal(v.proposal(block, 0));
  EXPECT_EQ(d.core.stats().proposals_accepted, 1u);
  EXPECT_EQ(dropped(d.core, DropReason::duplicate), 2u);
}

TEST_F(CoreTest, InvalidBlockGetsANilPrevoteAndIsCounted) {
  Driver d(v.config(3));
  d.invalid.insert(id_a);
  (void)d.feed(Start{});
  const std::vector<Output> out = d.proposal(v.proposal(a, 0));
  EXPECT_EQ(count_of<ValidateBlock>(out), 1u);
  const auto prevotes = votes_of(out, 3, VOTE_TYPE_PREVOTE);
  ASSERT_EQ(prevotes.size(), 1u);
  EXPECT_FALSE(id_of(prevotes[0]));
  EXPECT_EQ(dropped(d.core, DropReason::invalid_block), 1u);
}

TEST_F(CoreTest, WaitsForBlockValidatedAndAsksOncePerBlock) {
  Driver d(v.config(3), true, /*auto_validate=*/false);
  (void)d.feed(Start{});
  EXPECT_EQ(count_of<ValidateBlock>(d.proposal(v.proposal(a, 0))), 1u);
  EXPECT_EQ(d.core.step(), Step::propose);
  (void)d.timeout(1, 0, Step::propose);
  (void)d.timeout(1, 0, Step::prevote);
  (void)d.timeout(1, 0, Step::precommit);
  EXPECT_EQ(count_of<ValidateBlock>(d.proposal(v.proposal(a, 1))), 0u);  // same block, asked already
  const auto prevotes = votes_of(d.feed(BlockValidated{1, id_a, true}), 3, VOTE_TYPE_PREVOTE);
  ASSERT_EQ(prevotes.size(), 1u);
  EXPECT_EQ(id_of(prevotes[0]), id_a);
}

TEST_F(CoreTest, EquivocationIsKeptAsEvidenceOncePerPair) {
  Driver d(v.config(3));
  (void)d.feed(Start{});
  (void)d.vote(v.prevote(1, 0, id_a, 1));
  const auto found = all_of<EvidenceFound>(d.vote(v.prevote(1, 0, id_b, 1)));
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].evidence.first().block_id(), id_a.to_string());
  EXPECT_EQ(found[0].evidence.second().block_id(), id_b.to_string());
  EXPECT_EQ(count_of<EvidenceFound>(d.vote(v.prevote(1, 0, id_b, 1))), 0u);
  EXPECT_EQ(dropped(d.core, DropReason::duplicate), 1u);
  EXPECT_EQ(count_of<EvidenceFound>(d.vote(v.prevote(1, 0, std::nullopt, 1))), 1u);
  EXPECT_EQ(d.core.evidence().size(), 2u);
  // A precommit in the same round is another (height, round, type): no evidence.
  EXPECT_EQ(count_of<EvidenceFound>(d.vote(v.precommit(1, 0, id_b, 1))), 0u);
}

TEST_F(CoreTest, EachVoteOfAnEquivocatorCountsOnceForItsOwnBlock) {
  // Validator 0 prevotes A to this validator first, then B. Its B vote still
  // counts for B: with validators 1 and 2 that is a polka for B (as the
  // validators that saw only its B vote see it too), never one for A.
  Driver d(v.config(3));
  (void)d.feed(Start{});
  (void)d.proposal(v.proposal(b, 0));  // this validator prevotes B
  (void)d.vote(v.prevote(1, 0, id_a, 0));
  (void)d.vote(v.prevote(1, 0, id_b, 0));
  EXPECT_EQ(d.core.evidence().size(), 1u);
  EXPECT_EQ(d.core.step(), Step::prevote);
  const auto precommits = votes_of(d.vote(v.prevote(1, 0, id_b, 1)), 3, VOTE_TYPE_PRECOMMIT);
  ASSERT_EQ(precommits.size(), 1u);
  EXPECT_EQ(id_of(precommits[0]), id_b);
  EXPECT_EQ(d.core.locked_block(), id_b);
  // Duplicates of either vote change nothing.
  (void)d.vote(v.prevote(1, 0, id_a, 0));
  (void)d.vote(v.prevote(1, 0, id_b, 0));
  EXPECT_EQ(dropped(d.core, DropReason::duplicate), 2u);
}

// ------------------------------------------------------ double-sign guard

TEST_F(CoreTest, RestoredSignStateResendsTheSameVoteAndNeverAConflictingOne) {
  pb::SignState state;
  {
    Driver before(v.config(3), /*auto_persist=*/false);
    (void)before.feed(Start{});
    const auto persists = all_of<Persist>(before.proposal(v.proposal(a, 0)));
    ASSERT_EQ(persists.size(), 1u);
    state = persists[0].state;  // the crash happens right after this write
  }
  Config config = v.config(3);
  config.restored = state;
  Driver after(std::move(config));
  std::vector<Output> out = after.feed(Start{});
  EXPECT_EQ(count_of<Persist>(out), 0u);
  const auto resent = votes_of(out, 3, VOTE_TYPE_PREVOTE);
  ASSERT_EQ(resent.size(), 1u);
  EXPECT_EQ(proto::encode(resent[0]), proto::encode(state.message().vote()));
  EXPECT_EQ(after.core.step(), Step::prevote);

  // An equivocating proposer now shows this validator B for round 0.
  out = after.proposal(v.proposal(b, 0));
  auto more = after.timeout(1, 0, Step::propose);
  out.insert(out.end(), more.begin(), more.end());
  for (const auto& p : all_of<Persist>(out)) {
    EXPECT_FALSE(p.state.round() == 0 && p.state.step() <= 2) << "signed again at or below the restored step";
  }
  for (const auto& vote : votes_of(out, 3, VOTE_TYPE_PREVOTE)) EXPECT_EQ(id_of(vote), id_a);
}

TEST_F(CoreTest, RestoredLockHoldsAfterRestart) {
  pb::SignState state;
  {
    Driver before(v.config(3), /*auto_persist=*/false);
    (void)before.feed(Start{});
    const auto p1 = all_of<Persist>(before.proposal(v.proposal(a, 0)));
    ASSERT_EQ(p1.size(), 1u);
    (void)before.feed(Persisted{p1[0].state});
    (void)before.vote(v.prevote(1, 0, id_a, 0));
    const auto p2 = all_of<Persist>(before.vote(v.prevote(1, 0, id_a, 1)));
    ASSERT_EQ(p2.size(), 1u);
    state = p2[0].state;
  }
  EXPECT_EQ(state.step(), 3u);
  EXPECT_EQ(state.locked_round(), 0);
  EXPECT_EQ(state.locked_block_id(), id_a.to_string());
  Config config = v.config(3);
  config.restored = state;
  Driver after(std::move(config));
  (void)after.feed(Start{});
  EXPECT_EQ(after.core.locked_round(), 0);
  EXPECT_EQ(after.core.locked_block(), id_a);
  (void)after.timeout(1, 0, Step::precommit);
  const auto prevotes = votes_of(after.proposal(v.proposal(b, 1)), 3, VOTE_TYPE_PREVOTE);
  ASSERT_EQ(prevotes.size(), 1u);
  EXPECT_FALSE(id_of(prevotes[0]));
}

TEST_F(CoreTest, RestartedProposerReproposesItsLockedBlockFromRestoredBlocks) {
  pb::SignState state;
  {
    Driver before(v.config(1), /*auto_persist=*/false);
    (void)before.feed(Start{});
    const auto p1 = all_of<Persist>(before.proposal(v.proposal(a, 0)));
    ASSERT_EQ(p1.size(), 1u);
    (void)before.feed(Persisted{p1[0].state});
    (void)before.vote(v.prevote(1, 0, id_a, 0));
    const auto p2 = all_of<Persist>(before.vote(v.prevote(1, 0, id_a, 2)));
    ASSERT_EQ(p2.size(), 1u);
    state = p2[0].state;  // precommit A, locked on A in round 0
  }
  for (const bool with_block : {false, true}) {
    Config config = v.config(1);
    config.restored = state;
    if (with_block) config.restored_blocks.push_back(a);
    Driver after(std::move(config));
    (void)after.feed(Start{});
    const std::vector<Output> out = after.timeout(1, 0, Step::precommit);  // round 1: validator 1 proposes
    std::optional<pb::Proposal> proposal;
    for (const auto& s : all_of<Broadcast>(out)) {
      if (s.envelope.has_proposal()) proposal = s.envelope.proposal().proposal();
    }
    if (!with_block) {
      // Without the block it can only build a new one, which its lock makes it prevote nil.
      EXPECT_EQ(count_of<BuildBlock>(out), 1u);
      EXPECT_FALSE(proposal);
      continue;
    }
    EXPECT_EQ(count_of<BuildBlock>(out), 0u);
    ASSERT_TRUE(proposal);
    EXPECT_EQ(proposal->block_id(), id_a.to_string());
    // The prevotes of round 0 died with the crash: nobody could check pol_round 0.
    EXPECT_EQ(proposal->pol_round(), -1);
  }
}

TEST_F(CoreTest, GuardRefusesToSignBelowTheRestoredStateAndCountsIt) {
  // The guard's record is at height 2 (say the store lost a block): at height
  // 1 this validator must not sign anything.
  Validators w(4);
  pb::SignState state;
  state.set_height(2);
  state.set_round(0);
  state.set_step(2);
  *state.mutable_message()->mutable_vote() = w.prevote(2, 0, std::nullopt, 0);
  state.set_locked_round(-1);
  state.set_valid_round(-1);
  Config config = w.config(0);
  config.restored = state;
  Driver d(std::move(config));
  std::vector<Output> out = d.feed(Start{});
  ASSERT_EQ(count_of<BuildBlock>(out), 1u);
  out = d.feed(BlockBuilt{1, 0, a});
  auto more = d.timeout(1, 0, Step::propose);
  out.insert(out.end(), more.begin(), more.end());
  EXPECT_EQ(count_of<Persist>(out), 0u);
  EXPECT_EQ(votes_of(out, 0, VOTE_TYPE_PREVOTE).size(), 0u);
  EXPECT_EQ(d.core.stats().double_sign_refusals, 2u);
}

#ifndef CITYLEDGER_TEST_HOOKS
TEST(CoreDeathTest, ProductionCoreRefusesTheLockingSwitch) {
  Validators v(4);
  Config config = v.config(0);
  config.test_disable_locking = true;
  Bip340Verifier verifier;
  EXPECT_DEATH({ Core core(std::move(config), verifier); }, "test_disable_locking");
}
#endif

// ------------------------------------------------------ catch-up

TEST_F(CoreTest, CommitsACommittedBlockWithAValidCertificate) {
  Driver d(v.config(1));
  (void)d.feed(Start{});
  const pb::CommitCertificate cert = v.certificate(1, 3, id_a, {0, 2, 3});
  pb::CommittedBlock committed;
  *committed.mutable_block() = a;
  *committed.mutable_commit() = cert;
  const auto commits = all_of<Commit>(d.feed(CommittedBlockReceived{committed}));
  ASSERT_EQ(commits.size(), 1u);
  EXPECT_EQ(Validators::id(commits[0].block), id_a);
  // The certificate becomes the last commit of the next block this validator proposes.
  const auto builds = all_of<BuildBlock>(d.feed(CommitApplied{1, v.set}));
  ASSERT_EQ(builds.size(), 1u);  // validator 1 proposes height 2, round 0
  EXPECT_EQ(proto::encode(builds[0].last_commit), proto::encode(cert));
}

TEST_F(CoreTest, RefusesCommittedBlocksWithTwoFOrForgedSignatures) {
  Driver d(v.config(1));
  (void)d.feed(Start{});
  pb::CommittedBlock committed;
  *committed.mutable_block() = a;
  *committed.mutable_commit() = v.certificate(1, 0, id_a, {0, 2});
  EXPECT_EQ(count_of<Commit>(d.feed(CommittedBlockReceived{committed})), 0u);
  pb::CommitCertificate forged = v.certificate(1, 0, id_a, {0, 2, 3});
  forged.mutable_signatures(1)->set_signature(forged.signatures(0).signature());
  *committed.mutable_commit() = forged;
  EXPECT_EQ(count_of<Commit>(d.feed(CommittedBlockReceived{committed})), 0u);
  // A valid certificate for another block.
  *committed.mutable_commit() = v.certificate(1, 0, id_b, {0, 2, 3});
  EXPECT_EQ(count_of<Commit>(d.feed(CommittedBlockReceived{committed})), 0u);
  EXPECT_EQ(dropped(d.core, DropReason::bad_certificate), 3u);
  EXPECT_FALSE(d.core.decided());
}

TEST_F(CoreTest, AsksForTheBlockWhenPrecommitsNameOneItNeverReceived) {
  Driver d(v.config(std::nullopt));
  (void)d.feed(Start{});
  std::vector<Output> all;
  for (std::uint32_t i : {0u, 1u, 2u, 3u}) {
    auto out = d.vote(v.precommit(1, 0, id_a, i));
    all.insert(all.end(), out.begin(), out.end());
  }
  const auto requests = all_of<RequestCommittedBlock>(all);
  ASSERT_EQ(requests.size(), 1u);  // once per round
  EXPECT_EQ(requests[0].height, 1u);
  // The block arriving with its proposal completes the commit.
  EXPECT_EQ(count_of<Commit>(d.proposal(v.proposal(a, 0))), 1u);
}

TEST_F(CoreTest, BuffersTheNextHeightAndReplaysItThere) {
  Driver d(v.config(3));
  (void)d.feed(Start{});
  const pb::Block next = v.block(2, 9);
  const BlockId id_next = Validators::id(next);
  std::vector<Output> all;
  for (auto out : {d.proposal(v.proposal(next, 0)), d.vote(v.prevote(2, 0, id_next, 0)),
                   d.vote(v.prevote(2, 0, id_next, 2))}) {
    all.insert(all.end(), out.begin(), out.end());
  }
  EXPECT_EQ(d.core.future_messages(), 3u);
  EXPECT_EQ(count_of<ValidateBlock>(all), 0u);
  // f+1 validators are ahead: fetch the block of our height.
  const auto requests = all_of<RequestCommittedBlock>(all);
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].height, 1u);
  (void)d.vote(v.prevote(3, 0, std::nullopt, 0));
  EXPECT_EQ(dropped(d.core, DropReason::future_height), 1u);

  pb::CommittedBlock committed;
  *committed.mutable_block() = a;
  *committed.mutable_commit() = v.certificate(1, 0, id_a, {0, 1, 2});
  EXPECT_EQ(count_of<Commit>(d.feed(CommittedBlockReceived{committed})), 1u);
  const std::vector<Output> out = d.feed(CommitApplied{1, v.set});
  EXPECT_EQ(d.core.height(), 2u);
  EXPECT_EQ(d.core.future_messages(), 0u);
  EXPECT_EQ(count_of<ValidateBlock>(out), 1u);
  // Replayed: the proposal and two prevotes, plus its own prevote make a polka.
  const auto precommits = votes_of(out, 3, VOTE_TYPE_PRECOMMIT);
  ASSERT_EQ(precommits.size(), 1u);
  EXPECT_EQ(id_of(precommits[0]), id_next);
}

TEST_F(CoreTest, FutureBufferIsBoundedPerSender) {
  Config config = v.config(3);
  config.future_messages_max = 8;  // 2 per validator
  Driver d(std::move(config));
  (void)d.feed(Start{});
  for (std::uint32_t r = 0; r < 3; ++r) (void)d.vote(v.prevote(2, r, std::nullopt, 0));
  (void)d.vote(v.prevote(2, 0, std::nullopt, 0));
  EXPECT_EQ(d.core.future_messages(), 2u);
  EXPECT_EQ(dropped(d.core, DropReason::future_height), 1u);
  EXPECT_EQ(dropped(d.core, DropReason::duplicate), 1u);
  (void)d.vote(v.prevote(2, 0, std::nullopt, 1));
  EXPECT_EQ(d.core.future_messages(), 3u);
}

// ------------------------------------------------------ determinism

std::string describe(const std::vector<Output>& outputs) {
  std::string s;
  for (const auto& output : outputs) {
    s += std::to_string(output.index()) + ":";
    std::visit(
        [&](const auto& o) {
          using T = std::decay_t<decltype(o)>;
          if constexpr (std::is_same_v<T, Broadcast>) s += proto::encode(o.envelope);
          if constexpr (std::is_same_v<T, Persist>) s += proto::encode(o.state);
          if constexpr (std::is_same_v<T, Commit>) s += proto::encode(o.certificate);
          if constexpr (std::is_same_v<T, ScheduleTimeout>)
            s += std::to_string(o.round) + "/" + std::to_string(o.duration_ms);
        },
        output);
    s += "|";
  }
  return s;
}

TEST_F(CoreTest, SameInputsGiveSameOutputs) {
  auto run = [&] {
    Driver d(v.config(3));
    std::string all = describe(d.feed(Start{}));
    all += describe(d.proposal(v.proposal(a, 0)));
    for (std::uint32_t i : {0u, 1u, 2u}) all += describe(d.vote(v.prevote(1, 0, id_a, i)));
    all += describe(d.timeout(1, 0, Step::prevote));
    for (std::uint32_t i : {2u, 0u, 1u}) all += describe(d.vote(v.precommit(1, 0, id_a, i)));
    return all;
  };
  EXPECT_EQ(run(), run());
}

}  // namespace
}  // namespace cityledger::consensus::testing
