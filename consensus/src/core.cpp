// The core's inputs: checking and storing proposals and votes, evidence, the
// future-height buffer, the release of persisted messages, and catch-up
// blocks. The rules that decide what to sign are in safety.cpp, rounds and
// timeouts in pacemaker.cpp.
#include "consensus/core.hpp"

#include <algorithm>
#include <utility>

#include "common/check.hpp"
#include "proto/objects.hpp"
#include "state.hpp"

namespace cityledger::consensus {

namespace {

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

bool is_block_id(const std::string& bytes) { return bytes.size() == 32; }

}  // namespace

std::string block_id_bytes(const std::optional<BlockId>& id) { return id ? id->to_string() : std::string(); }

SignKey key_of(const pb::SignState& state) { return {state.height(), state.round(), state.step()}; }

Core::State::State(Config config_in, SignatureVerifier& verifier_in)
    : config(std::move(config_in)), verifier(verifier_in) {
#ifndef CITYLEDGER_TEST_HOOKS
  // The switch exists for the simulator's proof that it finds safety bugs; a
  // production core that honoured it would be unsafe, so it refuses to run.
  CL_CHECK(!config.test_disable_locking);
#endif
  CL_CHECK(!config.chain_id.empty());
  CL_CHECK(config.validators.size() > 0);
  CL_CHECK(config.height >= 1);
  CL_CHECK(config.future_messages_max > 0);
  if (config.restored) CL_CHECK(config.restored->step() >= 1 && config.restored->step() <= 3);
  height = config.height;
  validators = config.validators;
  last_commit = config.last_commit;
  own_index = config.key ? validators.index_of(config.key->public_key()) : std::nullopt;
  highest_round_seen.assign(validators.size(), -1);
  ahead.assign(validators.size(), false);
  future_by_sender.assign(validators.size(), 0);
}

RoundState& Core::State::round_state(std::uint32_t r) {
  auto [it, inserted] = rounds.try_emplace(r);
  if (inserted) {
    it->second.prevotes.by_validator.resize(validators.size());
    it->second.precommits.by_validator.resize(validators.size());
  }
  return it->second;
}

bool Core::State::verify_vote_signature(const pb::Vote& vote) {
  return verifier.verify(validators.key(vote.validator_index()), proto::vote_digest(vote, config.chain_id),
                         vote.signature());
}

bool Core::State::verify_proposal_signature(const pb::Proposal& proposal) {
  return verifier.verify(validators.key(proposal.proposer_index()),
                         proto::proposal_digest(proposal, config.chain_id), proposal.signature());
}

void Core::State::on_start() {
  if (started) return;
  started = true;
  if (config.restored) {
    restore(*config.restored);
  } else {
    start_round(0);
  }
  advance();
}

void Core::State::on_proposal(const pb::ProposalMessage& message, MessageOrigin origin) {
  const bool own = origin == MessageOrigin::own;
  const pb::Proposal& p = message.proposal();
  if (!message.has_proposal() || !message.has_block() || !is_block_id(p.block_id()) || p.pol_round() < -1 ||
      static_cast<std::int64_t>(p.pol_round()) >= static_cast<std::int64_t>(p.round()) ||
      (!own && p.signature().size() != 64)) {
    drop(DropReason::malformed);
    return;
  }
  if (p.height() < height) {
    if (p.height() + 1 == height) peer_behind = true;
    drop(DropReason::old_height);
    return;
  }
  if (p.proposer_index() >= validators.size()) {
    drop(DropReason::not_a_validator);
    return;
  }
  if (p.height() > height) {
    const bool signature_ok = verify_proposal_signature(p);
    on_future_message(p.proposer_index(), p.height(), p.signature(), signature_ok,
                      FutureMessage{p.proposer_index(), message});
    return;
  }
  if (p.proposer_index() != validators.proposer(height, p.round())) {
    drop(DropReason::wrong_proposer);
    return;
  }
  if (static_cast<std::uint64_t>(p.round()) > static_cast<std::uint64_t>(round) + limits::rounds_ahead_max) {
    if (!verify_proposal_signature(p)) {
      drop(DropReason::bad_signature);
      return;
    }
    note_round(p.proposer_index(), p.round());
    drop(DropReason::future_round);
    return;
  }
  RoundState& rs = round_state(p.round());
  if (own) {
    pb::Envelope envelope;
    *envelope.mutable_proposal() = message;
    rs.own_proposal = std::move(envelope);
  }
  if (rs.proposal && rs.proposal->block_id() == p.block_id() && rs.proposal->pol_round() == p.pol_round()) {
    drop(DropReason::duplicate);
    return;
  }
  if (!own && !verify_proposal_signature(p)) {
    drop(DropReason::bad_signature);
    return;
  }
  const BlockId id = Hash32::from_span(as_bytes(p.block_id()));
  if (message.block().header().height() != height || proto::block_hash(message.block().header()) != id) {
    drop(DropReason::block_mismatch);
    return;
  }
  note_round(p.proposer_index(), p.round());
  if (rs.proposal) {
    // An equivocating proposer. The first proposal stays the round's; the
    // block of this one is kept (bounded) in case 2f+1 precommit it.
    CL_CHECK(!own);
    drop(DropReason::conflicting_proposal);
    if (rs.blocks < limits::blocks_per_round_max && !blocks.contains(id)) {
      blocks.emplace(id, BlockEntry{message.block(), Validity::unknown});
      ++rs.blocks;
    }
    return;
  }
  rs.proposal = p;
  ++stats.proposals_accepted;
  auto [it, inserted] = blocks.try_emplace(id);
  if (inserted) {
    it->second.block = message.block();
    ++rs.blocks;
  }
  if (own) {
    it->second.validity = Validity::valid;  // we built it (or it was our valid value)
  } else if (it->second.validity == Validity::unknown) {
    it->second.validity = Validity::pending;
    emit(ValidateBlock{height, id, message.block()});
  }
}

void Core::State::on_vote(const pb::Vote& vote, MessageOrigin origin) {
  const bool own = origin == MessageOrigin::own;
  const bool type_ok = vote.type() == pb::VOTE_TYPE_PREVOTE || vote.type() == pb::VOTE_TYPE_PRECOMMIT;
  if (!type_ok || !(vote.block_id().empty() || is_block_id(vote.block_id())) ||
      (!own && vote.signature().size() != 64)) {
    drop(DropReason::malformed);
    return;
  }
  if (vote.height() < height) {
    if (vote.height() + 1 == height) peer_behind = true;
    drop(DropReason::old_height);
    return;
  }
  if (vote.validator_index() >= validators.size()) {
    drop(DropReason::not_a_validator);
    return;
  }
  if (vote.height() > height) {
    const bool signature_ok = verify_vote_signature(vote);
    on_future_message(vote.validator_index(), vote.height(), vote.signature(), signature_ok,
                      FutureMessage{vote.validator_index(), vote});
    return;
  }
  if (static_cast<std::uint64_t>(vote.round()) >
      static_cast<std::uint64_t>(round) + limits::rounds_ahead_max) {
    if (!verify_vote_signature(vote)) {
      drop(DropReason::bad_signature);
      return;
    }
    note_round(vote.validator_index(), vote.round());
    drop(DropReason::future_round);
    return;
  }
  RoundState& rs = round_state(vote.round());
  const bool prevote = vote.type() == pb::VOTE_TYPE_PREVOTE;
  VoteTally& tally = prevote ? rs.prevotes : rs.precommits;
  if (own) {
    pb::Envelope envelope;
    *envelope.mutable_vote() = vote;
    (prevote ? rs.own_prevote : rs.own_precommit) = std::move(envelope);
  }
  std::vector<pb::Vote>& slot = tally.by_validator[vote.validator_index()];
  for (const pb::Vote& seen : slot) {
    // Same content is the same vote, whatever the signature bytes: it must
    // not count twice, and re-checking its signature would be wasted work.
    if (seen.block_id() == vote.block_id()) {
      drop(DropReason::duplicate);
      return;
    }
  }
  if (!own && !verify_vote_signature(vote)) {
    drop(DropReason::bad_signature);
    return;
  }
  note_round(vote.validator_index(), vote.round());
  if (!slot.empty()) {
    // The guard must make this impossible for our own votes.
    CL_CHECK(!own);
    // Bounded memory against a validator signing votes for endless made-up
    // blocks; votes for nil or for a block we hold are always kept, since
    // those are the ones that can complete a polka or a commit for us.
    const bool known_block =
        vote.block_id().empty() || blocks.contains(Hash32::from_span(as_bytes(vote.block_id())));
    if (slot.size() >= limits::votes_per_slot_max && !known_block) {
      drop(DropReason::duplicate);
      return;
    }
    record_evidence(slot.front(), vote);
  } else {
    ++tally.total;  // validators with any vote: each counts once
  }
  // Each distinct vote counts once, for its own block, as in the paper
  // ("2f+1 PREVOTE messages for id(v)" from distinct validators). So an
  // equivocator counts towards each block it voted for. That is safe: two
  // quorums still share an honest validator, and honest ones never
  // equivocate. Counting only its first vote instead would let it show
  // different validators different polkas, and a polka that only some can
  // see stalls everyone locked on it (they can never justify it to others).
  slot.push_back(vote);
  const std::uint32_t count = ++tally.count_by_block[vote.block_id()];
  ++stats.votes_accepted;
  if (!prevote && !vote.block_id().empty() && count >= validators.quorum() && !precommit_quorum) {
    precommit_quorum = std::make_pair(vote.round(), Hash32::from_span(as_bytes(vote.block_id())));
  }
}

void Core::State::on_future_message(std::uint32_t sender, std::uint64_t message_height,
                                    const std::string& signature, bool signature_ok, FutureMessage message) {
  // Checked against the current validator set: good enough to keep junk out
  // of the buffer; replayed messages are checked again at their height.
  if (!signature_ok) {
    drop(DropReason::bad_signature);
    return;
  }
  note_ahead(sender);
  if (message_height != height + 1) {
    drop(DropReason::future_height);
    return;
  }
  if (future_signatures.contains(signature)) {
    drop(DropReason::duplicate);
    return;
  }
  // A fair share per sender, so a Byzantine validator cannot crowd out the
  // honest ones' messages.
  const std::size_t share = std::max<std::size_t>(1, config.future_messages_max / validators.size());
  if (future.size() >= config.future_messages_max || future_by_sender[sender] >= share) {
    drop(DropReason::future_height);
    return;
  }
  future.push_back(std::move(message));
  ++future_by_sender[sender];
  future_signatures.insert(signature);
}

void Core::State::record_evidence(const pb::Vote& first, const pb::Vote& second) {
  pb::DuplicateVoteEvidence found;
  *found.mutable_first() = first;
  *found.mutable_second() = second;
  if (evidence.size() >= limits::evidence_max) evidence.erase(evidence.begin());
  evidence.push_back(found);
  emit(EvidenceFound{std::move(found)});
}

void Core::State::on_block_validated(const BlockValidated& input) {
  if (input.height != height) return;
  auto it = blocks.find(input.block_id);
  if (it == blocks.end() || it->second.validity != Validity::pending) return;
  it->second.validity = input.valid ? Validity::valid : Validity::invalid;
  if (!input.valid) drop(DropReason::invalid_block);
}

void Core::State::on_persisted(const pb::SignState& state) {
  // A persisted state covers every message signed at or below it: after a
  // restart from it the core never signs anything at or below it again.
  const SignKey key = key_of(state);
  while (!held.empty() && held.front().key <= key) {
    Held message = std::move(held.front());
    held.pop_front();
    release(message);
  }
}

void Core::State::release(const Held& message) {
  emit(Broadcast{message.envelope});
  if (message.key.height != height || decided) return;
  if (message.envelope.has_vote()) {
    on_vote(message.envelope.vote(), MessageOrigin::own);
  } else if (message.envelope.has_proposal()) {
    const pb::Proposal& p = message.envelope.proposal().proposal();
    on_proposal(message.envelope.proposal(), MessageOrigin::own);
    if (p.pol_round() >= 0) relay_polka(static_cast<std::uint32_t>(p.pol_round()), p.block_id());
  }
}

void Core::State::on_committed_block(const pb::CommittedBlock& committed) {
  const pb::Block& block = committed.block();
  const std::uint64_t block_height = block.header().height();
  if (block_height < height) {
    drop(DropReason::old_height);
    return;
  }
  if (block_height > height) {
    drop(DropReason::future_height);
    return;
  }
  if (decided) {
    drop(DropReason::duplicate);
    return;
  }
  const BlockId id = proto::block_hash(block.header());
  if (!verify_commit_certificate(committed.commit(), config.chain_id, validators, height, id, verifier)) {
    drop(DropReason::bad_certificate);
    return;
  }
  decided = true;
  decided_certificate = committed.commit();
  ++stats.commits;
  emit(Commit{block, committed.commit()});
}

// ------------------------------------------------------------------ Core

Core::Core(Config config, SignatureVerifier& verifier)
    : state_(std::make_unique<State>(std::move(config), verifier)) {}

Core::~Core() = default;

std::vector<Output> Core::handle(const Input& input) {
  std::vector<Output> outputs;
  State& s = *state_;
  s.out = &outputs;
  if (!s.started && !std::holds_alternative<Start>(input)) {
    // Start must come first (types.hpp); anything earlier has no state to act on.
    s.out = nullptr;
    return outputs;
  }
  std::visit(Overloaded{
                 [&](const Start&) { s.on_start(); },
                 [&](const ProposalReceived& in) {
                   s.on_proposal(in.message, MessageOrigin::peer);
                   s.advance();
                 },
                 [&](const VoteReceived& in) {
                   s.on_vote(in.vote, MessageOrigin::peer);
                   s.advance();
                 },
                 [&](const TimeoutFired& in) { s.on_timeout(in); },
                 [&](const BlockValidated& in) {
                   s.on_block_validated(in);
                   s.advance();
                 },
                 [&](const BlockBuilt& in) {
                   s.on_block_built(in);
                   s.advance();
                 },
                 [&](const Persisted& in) {
                   s.on_persisted(in.state);
                   s.advance();
                 },
                 [&](const CommitApplied& in) { s.on_commit_applied(in); },
                 [&](const CommittedBlockReceived& in) {
                   s.on_committed_block(in.committed);
                   s.advance();
                 },
             },
             input);
  s.out = nullptr;
  return outputs;
}

std::uint64_t Core::height() const { return state_->height; }
std::uint32_t Core::round() const { return state_->round; }
Step Core::step() const { return state_->step; }
std::int32_t Core::locked_round() const { return state_->locked_round; }
std::optional<BlockId> Core::locked_block() const { return state_->locked_block; }
std::int32_t Core::valid_round() const { return state_->valid_round; }
std::optional<BlockId> Core::valid_block() const { return state_->valid_block; }
bool Core::decided() const { return state_->decided; }
std::size_t Core::held_messages() const { return state_->held.size(); }
std::size_t Core::future_messages() const { return state_->future.size(); }
const ValidatorSet& Core::validators() const { return state_->validators; }
const Stats& Core::stats() const { return state_->stats; }
const std::vector<pb::DuplicateVoteEvidence>& Core::evidence() const { return state_->evidence; }

}  // namespace cityledger::consensus
