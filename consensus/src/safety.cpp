// Safety: what this validator may sign. The upon-rules of Tendermint
// (Buchman, Kwon, Milosevic 2018, "The latest gossip on BFT consensus",
// Algorithm 1; line numbers below refer to it), and the double-sign guard
// that every signature passes through. Rounds, timeouts and proposer duty are
// the pacemaker's (pacemaker.cpp).
#include "common/check.hpp"
#include "proto/objects.hpp"
#include "state.hpp"

namespace cityledger::consensus {

namespace {

bool same_content(const pb::Envelope& a, const pb::Envelope& b) {
  if (a.has_vote() && b.has_vote()) {
    const pb::Vote& x = a.vote();
    const pb::Vote& y = b.vote();
    return x.type() == y.type() && x.height() == y.height() && x.round() == y.round() &&
           x.block_id() == y.block_id() && x.validator_index() == y.validator_index();
  }
  if (a.has_proposal() && b.has_proposal()) {
    const pb::Proposal& x = a.proposal().proposal();
    const pb::Proposal& y = b.proposal().proposal();
    return x.height() == y.height() && x.round() == y.round() && x.pol_round() == y.pol_round() &&
           x.block_id() == y.block_id() && x.proposer_index() == y.proposer_index();
  }
  return false;
}

}  // namespace

void Core::State::advance() {
  for (int i = 0; i < limits::advance_iterations_max; ++i) {
    if (!advance_once()) return;
  }
  CL_CHECK(!"consensus rules did not settle");
}

// Each rule returns true when it changed the state the other rules read; the
// loop runs until none fires.
bool Core::State::advance_once() {
  if (!started || decided) return false;
  if (try_commit()) return true;              // line 49
  if (try_round_skip()) return true;          // line 55
  if (try_prevote()) return true;             // lines 22 and 28
  if (try_precommit_on_polka()) return true;  // line 36
  if (try_precommit_nil()) return true;       // line 44
  try_schedule_timeouts();                    // lines 34 and 47
  try_request_catch_up();
  return false;
}

// Line 49: 2f+1 precommits for one block in one round, from any round of this
// height, decide it. We need the block's content, not our own validation of
// it: 2f+1 precommits include f+1 honest validators that found it valid.
bool Core::State::try_commit() {
  if (!precommit_quorum) return false;
  const auto& [commit_round, block_id] = *precommit_quorum;
  if (!blocks.contains(block_id)) return false;  // try_request_catch_up asks for it
  commit(commit_round, block_id);
  return true;
}

void Core::State::commit(std::uint32_t commit_round, const BlockId& block_id) {
  const RoundState& rs = rounds.at(commit_round);
  pb::CommitCertificate certificate;
  certificate.set_height(height);
  certificate.set_round(commit_round);
  certificate.set_block_id(block_id.to_string());
  // by_validator is indexed by validator: the signatures come out ascending.
  for (std::uint32_t i = 0; i < rs.precommits.by_validator.size(); ++i) {
    for (const pb::Vote& vote : rs.precommits.by_validator[i]) {
      if (vote.block_id() != certificate.block_id()) continue;
      pb::CommitSignature* signature = certificate.add_signatures();
      signature->set_validator_index(i);
      signature->set_signature(vote.signature());
    }
  }
  CL_CHECK(static_cast<std::uint32_t>(certificate.signatures_size()) >= validators.quorum());
  decided = true;
  decided_certificate = certificate;
  ++stats.commits;
  emit(Commit{blocks.at(block_id).block, std::move(certificate)});
}

// Lines 22-33: in the propose step, prevote for the round's proposal if it is
// valid and the lock allows it, else nil. A proposal with pol_round waits for
// the 2f+1 prevotes at pol_round that justify it (the timeout covers their
// absence); any proposal waits for the application's answer on its block.
bool Core::State::try_prevote() {
  if (step != Step::propose) return false;
  auto it = rounds.find(round);
  if (it == rounds.end() || !it->second.proposal) return false;
  const pb::Proposal& p = *it->second.proposal;
  const BlockId id = Hash32::from_span(as_bytes(p.block_id()));
  const BlockEntry& entry = blocks.at(id);
  if (entry.validity == Validity::unknown || entry.validity == Validity::pending) return false;
  if (p.pol_round() >= 0) {
    auto pol = rounds.find(static_cast<std::uint32_t>(p.pol_round()));
    if (pol == rounds.end() || pol->second.prevotes.count(p.block_id()) < validators.quorum()) return false;
  }
  const bool for_block = entry.validity == Validity::valid && lock_allows(id, p.pol_round());
  sign_vote_and_hold(pb::VOTE_TYPE_PREVOTE, round, for_block ? std::optional<BlockId>(id) : std::nullopt);
  step = Step::prevote;
  return true;
}

// The locking rule. Without a proof-of-lock (pol_round = -1): only when not
// locked or locked on this very block. With one: also when the lock is no
// newer than pol_round, i.e. a later polka unlocks.
bool Core::State::lock_allows(const BlockId& block_id, std::int32_t pol_round) const {
#ifdef CITYLEDGER_TEST_HOOKS
  if (config.test_disable_locking) return true;
#endif
  if (locked_round < 0) return true;
  if (locked_block && *locked_block == block_id) return true;
  return pol_round >= 0 && locked_round <= pol_round;
}

// Line 36: the round's proposal has 2f+1 prevotes and is valid. In the prevote
// step: lock on it and precommit it. In any later step: remember it as the
// valid value, to re-propose it with this round as pol_round.
bool Core::State::try_precommit_on_polka() {
  if (step == Step::propose) return false;
  auto it = rounds.find(round);
  if (it == rounds.end() || !it->second.proposal || it->second.polka_rule_done) return false;
  RoundState& rs = it->second;
  const std::string& block_id = rs.proposal->block_id();
  if (rs.prevotes.count(block_id) < validators.quorum()) return false;
  const BlockId id = Hash32::from_span(as_bytes(block_id));
  if (blocks.at(id).validity != Validity::valid) return false;
  rs.polka_rule_done = true;
  valid_block = id;
  valid_round = static_cast<std::int32_t>(round);
  if (step == Step::prevote) {
    bool lock = true;
#ifdef CITYLEDGER_TEST_HOOKS
    lock = !config.test_disable_locking;
#endif
    if (lock) {
      locked_block = id;
      locked_round = static_cast<std::int32_t>(round);
    }
    sign_vote_and_hold(pb::VOTE_TYPE_PRECOMMIT, round, id);
    step = Step::precommit;
  }
  return true;
}

// Line 44: 2f+1 prevotes for nil: precommit nil.
bool Core::State::try_precommit_nil() {
  if (step != Step::prevote) return false;
  auto it = rounds.find(round);
  if (it == rounds.end() || it->second.prevotes.count(std::string()) < validators.quorum()) return false;
  sign_vote_and_hold(pb::VOTE_TYPE_PRECOMMIT, round, std::nullopt);
  step = Step::precommit;
  return true;
}

// ------------------------------------------------------------ the guard

bool Core::State::guard_allows(const SignKey& key, const pb::Envelope& unsigned_message) {
  if (!last_signed || key > *last_signed) return true;
  if (key == *last_signed && same_content(unsigned_message, last_signed_message)) {
    // Signed (and persisted, or about to be) already: send that message again
    // instead of signing anew.
    bool still_held = false;
    for (const Held& h : held) still_held = still_held || h.key == key;
    if (!still_held) emit(Broadcast{last_signed_message});
    return false;
  }
  ++stats.double_sign_refusals;
  return false;
}

void Core::State::sign_vote_and_hold(pb::VoteType type, std::uint32_t vote_round,
                                     const std::optional<BlockId>& block_id) {
  if (!own_index || !config.key) return;  // a follower never signs
  pb::Envelope envelope;
  pb::Vote& vote = *envelope.mutable_vote();
  vote.set_type(type);
  vote.set_height(height);
  vote.set_round(vote_round);
  vote.set_block_id(block_id_bytes(block_id));
  vote.set_validator_index(*own_index);
  const SignKey key{
      height, vote_round,
      static_cast<std::uint32_t>(type == pb::VOTE_TYPE_PREVOTE ? Step::prevote : Step::precommit)};
  if (!guard_allows(key, envelope)) return;
  // The invariant itself, checked where the signature is made.
  CL_CHECK(!last_signed || key > *last_signed);
  proto::sign_vote(vote, config.chain_id, *config.key);
  hold(key, std::move(envelope));
}

void Core::State::sign_proposal_and_hold(std::int32_t pol_round, const BlockId& block_id,
                                         const pb::Block& block) {
  if (!own_index || !config.key) return;
  round_state(round).proposal_signed = true;
  pb::Envelope envelope;
  pb::Proposal& proposal = *envelope.mutable_proposal()->mutable_proposal();
  proposal.set_height(height);
  proposal.set_round(round);
  proposal.set_pol_round(pol_round);
  proposal.set_block_id(block_id.to_string());
  proposal.set_proposer_index(*own_index);
  const SignKey key{height, round, static_cast<std::uint32_t>(Step::propose)};
  if (!guard_allows(key, envelope)) return;
  CL_CHECK(!last_signed || key > *last_signed);
  proto::sign_proposal(proposal, config.chain_id, *config.key);
  *envelope.mutable_proposal()->mutable_block() = block;
  hold(key, std::move(envelope));
}

void Core::State::hold(const SignKey& key, pb::Envelope envelope) {
  last_signed = key;
  last_signed_message = envelope;
  emit(Persist{make_sign_state(key, envelope)});
  held.push_back(Held{key, std::move(envelope)});
}

pb::SignState Core::State::make_sign_state(const SignKey& key, const pb::Envelope& message) const {
  pb::SignState state;
  state.set_height(key.height);
  state.set_round(key.round);
  state.set_step(key.step);
  if (message.has_vote()) state.set_block_id(message.vote().block_id());
  if (message.has_proposal()) state.set_block_id(message.proposal().proposal().block_id());
  *state.mutable_message() = message;
  state.set_locked_round(locked_round);
  state.set_locked_block_id(block_id_bytes(locked_block));
  state.set_valid_round(valid_round);
  state.set_valid_block_id(block_id_bytes(valid_block));
  return state;
}

}  // namespace cityledger::consensus
