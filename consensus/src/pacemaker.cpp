// The pacemaker: rounds, proposer duty, timeouts, round skip, retransmission,
// catch-up requests, moving to the next height, and resuming after a restart.
// It decides when things happen; what may be signed is safety.cpp's.
#include <algorithm>
#include <functional>
#include <limits>

#include "common/check.hpp"
#include "proto/objects.hpp"
#include "state.hpp"

namespace cityledger::consensus {

namespace {

std::optional<BlockId> optional_block_id(const std::string& bytes) {
  if (bytes.size() != 32) return std::nullopt;
  return Hash32::from_span(as_bytes(bytes));
}

}  // namespace

// StartRound (Algorithm 1, line 11). Every round schedules timeout_propose,
// the proposer included, so a round always ends even when the application is
// slow to build a block.
void Core::State::start_round(std::uint32_t r) {
  round = r;
  step = Step::propose;
  RoundState& rs = round_state(r);
  schedule_timeout(Step::propose);
  if (is_proposer(r) && !rs.proposal_signed) propose();
}

// Lines 14-19: re-propose the valid value (with its round as pol_round) when
// we hold its block, else ask the application for a new block.
//
// After a restart the core may hold the block (Config::restored_blocks) but
// not the 2f+1 prevotes that justify its round: a pol_round nobody can check
// makes every validator that missed the polka prevote nil, forever if
// everyone restarted. Proposing the block with pol_round = -1 instead is
// accepted by every validator not locked on another block. (Any proposal is
// safe to make: safety rests on the prevote rules, not on the proposer.)
void Core::State::propose() {
  RoundState& rs = round_state(round);
  auto repropose = [&](const BlockId& id, std::int32_t pol_round) {
    auto it = blocks.find(id);
    if (it == blocks.end()) return false;
    auto pol = rounds.find(static_cast<std::uint32_t>(pol_round));
    const bool justified =
        pol != rounds.end() && pol->second.prevotes.count(id.to_string()) >= validators.quorum();
    sign_proposal_and_hold(justified ? pol_round : -1, id, it->second.block);
    return true;
  };
  if (valid_block && repropose(*valid_block, valid_round)) return;
  // Normally the valid value is at least as recent as the lock; after a
  // restart only the locked block may be at hand. Proposing anything else is
  // pointless: this validator would prevote nil for it.
  if (locked_block && repropose(*locked_block, locked_round)) return;
  if (rs.build_requested) return;
  rs.build_requested = true;
  emit(BuildBlock{height, round, last_commit});
}

void Core::State::on_block_built(const BlockBuilt& input) {
  if (decided || input.height != height || input.round != round || step != Step::propose) return;
  if (!is_proposer(round)) return;
  RoundState& rs = round_state(round);
  if (!rs.build_requested || rs.proposal_signed) return;
  if (input.block.header().height() != height) {
    drop(DropReason::malformed);
    return;
  }
  const BlockId id = proto::block_hash(input.block.header());
  BlockEntry& entry = blocks[id];
  entry.block = input.block;
  entry.validity = Validity::valid;  // blocks we built ourselves are valid
  sign_proposal_and_hold(-1, id, input.block);
}

void Core::State::schedule_timeout(Step timeout_step) {
  RoundState& rs = round_state(round);
  bool& scheduled = timeout_step == Step::propose   ? rs.timeout_propose_scheduled
                    : timeout_step == Step::prevote ? rs.timeout_prevote_scheduled
                                                    : rs.timeout_precommit_scheduled;
  if (scheduled) return;
  scheduled = true;
  emit(ScheduleTimeout{height, round, timeout_step, config.timeouts.duration_ms(timeout_step, round)});
}

// Lines 34 and 47: 2f+1 prevotes (any) in the prevote step start
// timeout_prevote; 2f+1 precommits (any) start timeout_precommit.
void Core::State::try_schedule_timeouts() {
  auto it = rounds.find(round);
  if (it == rounds.end()) return;
  if (step == Step::prevote && it->second.prevotes.total >= validators.quorum())
    schedule_timeout(Step::prevote);
  if (it->second.precommits.total >= validators.quorum()) schedule_timeout(Step::precommit);
}

// Lines 57-67, plus retransmission: the simulated (and the real) network may
// lose messages and nothing else resends them. Each timeout of the current
// round also schedules the next step's timeout if nothing has yet, so every
// round ends within propose + prevote + precommit timeouts and each round
// retransmits: no state in which the core waits for a message that was lost.
void Core::State::on_timeout(const TimeoutFired& timeout) {
  if (decided || timeout.height != height || timeout.round != round) return;  // stale
  retransmit();
  switch (timeout.step) {
    case Step::propose:
      if (step == Step::propose) {
        sign_vote_and_hold(pb::VOTE_TYPE_PREVOTE, round, std::nullopt);
        step = Step::prevote;
      }
      schedule_timeout(Step::prevote);
      break;
    case Step::prevote:
      if (step == Step::prevote) {
        sign_vote_and_hold(pb::VOTE_TYPE_PRECOMMIT, round, std::nullopt);
        step = Step::precommit;
      }
      schedule_timeout(Step::precommit);
      break;
    case Step::precommit:
      CL_CHECK(round < std::numeric_limits<std::uint32_t>::max());
      start_round(round + 1);
      break;
  }
  advance();
}

// Line 55: f+1 validators (so at least one honest) are in a higher round: go
// to the highest round at least f+1 of them have reached.
bool Core::State::try_round_skip() {
  const std::uint32_t needed = validators.weak_quorum();
  std::uint32_t higher_count = 0;
  for (std::int64_t r : highest_round_seen) higher_count += r > static_cast<std::int64_t>(round) ? 1 : 0;
  if (higher_count < needed) return false;
  std::vector<std::int64_t> higher;
  higher.reserve(higher_count);
  for (std::int64_t r : highest_round_seen) {
    if (r > static_cast<std::int64_t>(round)) higher.push_back(r);
  }
  std::sort(higher.begin(), higher.end(), std::greater<>());
  start_round(static_cast<std::uint32_t>(higher[needed - 1]));
  return true;
}

void Core::State::note_round(std::uint32_t validator, std::uint32_t message_round) {
  std::int64_t& highest = highest_round_seen[validator];
  highest = std::max<std::int64_t>(highest, message_round);
}

void Core::State::note_ahead(std::uint32_t validator) {
  if (ahead[validator]) return;
  ahead[validator] = true;
  ++ahead_count;
}

// We are behind when f+1 validators sent valid messages for a higher height,
// or when 2f+1 precommits name a block we never received. Asked at most once
// per round: the driver fetches and answers with CommittedBlockReceived.
void Core::State::try_request_catch_up() {
  const bool missing_block = precommit_quorum && !blocks.contains(precommit_quorum->second);
  if (!missing_block && ahead_count < validators.weak_quorum()) return;
  if (catch_up_requested_round == round) return;
  catch_up_requested_round = round;
  emit(RequestCommittedBlock{height});
}

void Core::State::retransmit() {
  // The latest proposal of this height, and its proof-of-lock.
  for (auto it = rounds.rbegin(); it != rounds.rend(); ++it) {
    if (!it->second.own_proposal) continue;
    emit(Broadcast{*it->second.own_proposal});
    const pb::Proposal& p = it->second.own_proposal->proposal().proposal();
    if (p.pol_round() >= 0) relay_polka(static_cast<std::uint32_t>(p.pol_round()), p.block_id());
    break;
  }
  auto it = rounds.find(round);
  if (it != rounds.end()) {
    if (it->second.own_prevote) emit(Broadcast{*it->second.own_prevote});
    if (it->second.own_precommit) emit(Broadcast{*it->second.own_precommit});
  }
  // Our latest precommit for a block from an earlier round: a commit can
  // still happen in that round (line 49 holds for any round), and with every
  // round resending it the precommits there keep accumulating at the others
  // despite losses.
  for (auto r = rounds.rbegin(); r != rounds.rend(); ++r) {
    if (r->first >= round) continue;
    const auto& own = r->second.own_precommit;
    if (!own || own->vote().block_id().empty()) continue;
    emit(Broadcast{*own});
    break;
  }
  // The polka behind our valid value, and the one behind this round's
  // proposal: lets the others accept a re-proposal (line 28) even if they lost
  // some of those prevotes, or lost them all in a crash (a restarted proposer
  // re-proposes its restored valid value without the votes that justify it).
  if (valid_block && valid_round >= 0) {
    relay_polka(static_cast<std::uint32_t>(valid_round), valid_block->to_string());
  }
  if (it != rounds.end() && it->second.proposal && it->second.proposal->pol_round() >= 0 &&
      !(valid_block && valid_round == it->second.proposal->pol_round() &&
        valid_block->to_string() == it->second.proposal->block_id())) {
    relay_polka(static_cast<std::uint32_t>(it->second.proposal->pol_round()),
                it->second.proposal->block_id());
  }
  // A peer still at height - 1 may have missed the precommits that let us
  // commit it; nobody else would ever resend them (we all moved on).
  if (peer_behind) {
    peer_behind = false;
    for (const pb::CommitSignature& signature : last_commit.signatures()) {
      pb::Envelope envelope;
      *envelope.mutable_vote() = proto::precommit_of(last_commit, signature);
      emit(Broadcast{std::move(envelope)});
    }
  }
}

// A proposal with pol_round is only prevoted by those who hold the 2f+1
// prevotes at pol_round (line 28). Whoever lost some gets them with it.
void Core::State::relay_polka(std::uint32_t pol_round, const std::string& block_id) {
  auto it = rounds.find(pol_round);
  if (it == rounds.end()) return;
  for (const auto& slot : it->second.prevotes.by_validator) {
    for (const pb::Vote& vote : slot) {
      if (vote.block_id() != block_id) continue;
      pb::Envelope envelope;
      *envelope.mutable_vote() = vote;
      emit(Broadcast{std::move(envelope)});
    }
  }
}

void Core::State::on_commit_applied(const CommitApplied& applied) {
  if (!decided || applied.height != height) return;
  CL_CHECK(applied.next_validators.size() > 0);
  last_commit = decided_certificate;
  enter_height(height + 1, applied.next_validators);
}

void Core::State::enter_height(std::uint64_t new_height, ValidatorSet new_validators) {
  height = new_height;
  validators = std::move(new_validators);
  own_index = config.key ? validators.index_of(config.key->public_key()) : std::nullopt;
  decided = false;
  decided_certificate.Clear();
  blocks.clear();
  rounds.clear();
  precommit_quorum.reset();
  const std::uint32_t n = validators.size();
  highest_round_seen.assign(n, -1);
  ahead.assign(n, false);
  ahead_count = 0;
  catch_up_requested_round.reset();
  peer_behind = false;
  locked_round = -1;
  locked_block.reset();
  valid_round = -1;
  valid_block.reset();
  std::deque<FutureMessage> replay;
  replay.swap(future);
  future_by_sender.assign(n, 0);
  future_signatures.clear();

  start_round(0);
  for (const FutureMessage& message : replay) {
    if (const auto* vote = std::get_if<pb::Vote>(&message.message)) {
      on_vote(*vote, MessageOrigin::peer);
    } else {
      on_proposal(std::get<pb::ProposalMessage>(message.message), MessageOrigin::peer);
    }
  }
  advance();
}

// Resume from the last persisted SignState: the guard starts from it, and at
// its height the core continues in its round and step with its lock, sending
// the persisted message again (it is already on disk: no new Persist).
void Core::State::restore(const pb::SignState& state) {
  last_signed = key_of(state);
  last_signed_message = state.message();
  if (state.height() != height) {
    start_round(0);
    return;
  }
  locked_block = optional_block_id(state.locked_block_id());
  locked_round = locked_block ? state.locked_round() : -1;
  valid_block = optional_block_id(state.valid_block_id());
  valid_round = valid_block ? state.valid_round() : -1;
  for (const pb::Block& block : config.restored_blocks) {
    if (block.header().height() != height) continue;
    // The driver kept these durably before answering BlockBuilt or
    // BlockValidated{valid}: they are valid.
    blocks.insert_or_assign(proto::block_hash(block.header()), BlockEntry{block, Validity::valid});
  }
  round = state.round();
  step = static_cast<Step>(state.step());
  RoundState& rs = round_state(round);
  if (step == Step::propose) rs.proposal_signed = true;
  schedule_timeout(Step::propose);  // the round's timeout chain
  emit(Broadcast{state.message()});
  if (state.message().has_vote()) {
    on_vote(state.message().vote(), MessageOrigin::own);
  } else if (state.message().has_proposal()) {
    on_proposal(state.message().proposal(), MessageOrigin::own);
  }
}

}  // namespace cityledger::consensus
