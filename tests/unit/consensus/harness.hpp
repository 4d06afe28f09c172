// Helpers for driving one consensus core by hand: a validator set of
// deterministic test keys, signed proposals and votes, blocks with a valid
// header, and a driver that can answer Persist and ValidateBlock itself.
#pragma once

#include <gtest/gtest.h>

#include <deque>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "consensus/core.hpp"
#include "crypto/schnorr.hpp"
#include "proto/objects.hpp"

namespace cityledger::consensus::testing {

inline constexpr const char* chain = "test-chain";

template <typename T>
std::vector<T> all_of(const std::vector<Output>& outputs) {
  std::vector<T> found;
  for (const auto& output : outputs) {
    if (const auto* t = std::get_if<T>(&output)) found.push_back(*t);
  }
  return found;
}

template <typename T>
std::size_t count_of(const std::vector<Output>& outputs) {
  return all_of<T>(outputs).size();
}

// Broadcast votes in `outputs` signed by `validator` of `type`.
inline std::vector<pb::Vote> votes_of(const std::vector<Output>& outputs, std::uint32_t validator,
                                      pb::VoteType type) {
  std::vector<pb::Vote> found;
  for (const auto& b : all_of<Broadcast>(outputs)) {
    if (b.envelope.has_vote() && b.envelope.vote().validator_index() == validator &&
        b.envelope.vote().type() == type)
      found.push_back(b.envelope.vote());
  }
  return found;
}

inline std::uint64_t dropped(const Core& core, DropReason reason) {
  return core.stats().dropped[static_cast<std::size_t>(reason)];
}

class Validators {
 public:
  explicit Validators(std::uint32_t n) {
    std::vector<crypto::PublicKey> public_keys;
    for (std::uint32_t i = 0; i < n; ++i) {
      keys.push_back(crypto::SecretKey::from_seed_for_testing(i + 1));
      public_keys.push_back(keys.back().public_key());
    }
    set = ValidatorSet(public_keys);
  }

  pb::Block block(std::uint64_t height, std::uint64_t tag, std::uint32_t round = 0) const {
    pb::Block block;
    pb::BlockHeader& header = *block.mutable_header();
    header.set_chain_id(chain);
    header.set_height(height);
    header.set_time_unix_ms(1'700'000'000'000 + tag);
    header.set_previous_block_hash(std::string(32, static_cast<char>(height)));
    header.set_txs_root(std::string(32, '\0'));
    header.set_log_root(std::string(32, '\0'));
    header.set_validator_set_hash(set.hash().to_string());
    header.set_proposer_index(set.proposer(height, round));
    return block;
  }

  static BlockId id(const pb::Block& block) { return proto::block_hash(block.header()); }

  pb::ProposalMessage proposal(const pb::Block& block, std::uint32_t round, std::int32_t pol_round = -1,
                               std::optional<std::uint32_t> proposer = std::nullopt) const {
    pb::ProposalMessage message;
    pb::Proposal& p = *message.mutable_proposal();
    p.set_height(block.header().height());
    p.set_round(round);
    p.set_pol_round(pol_round);
    p.set_block_id(id(block).to_string());
    p.set_proposer_index(proposer ? *proposer : set.proposer(block.header().height(), round));
    proto::sign_proposal(p, chain, keys[p.proposer_index()]);
    *message.mutable_block() = block;
    return message;
  }

  pb::Vote vote(pb::VoteType type, std::uint64_t height, std::uint32_t round, std::optional<BlockId> block_id,
                std::uint32_t validator, std::string_view chain_id = chain) const {
    pb::Vote v;
    v.set_type(type);
    v.set_height(height);
    v.set_round(round);
    if (block_id) v.set_block_id(block_id->to_string());
    v.set_validator_index(validator);
    proto::sign_vote(v, chain_id, keys[validator]);
    return v;
  }
  pb::Vote prevote(std::uint64_t h, std::uint32_t r, std::optional<BlockId> b, std::uint32_t i) const {
    return vote(pb::VOTE_TYPE_PREVOTE, h, r, b, i);
  }
  pb::Vote precommit(std::uint64_t h, std::uint32_t r, std::optional<BlockId> b, std::uint32_t i) const {
    return vote(pb::VOTE_TYPE_PRECOMMIT, h, r, b, i);
  }

  // A certificate from the precommits of `signers` for `block_id`.
  pb::CommitCertificate certificate(std::uint64_t height, std::uint32_t round, const BlockId& block_id,
                                    const std::vector<std::uint32_t>& signers) const {
    pb::CommitCertificate cert;
    cert.set_height(height);
    cert.set_round(round);
    cert.set_block_id(block_id.to_string());
    for (std::uint32_t i : signers) {
      pb::CommitSignature* s = cert.add_signatures();
      s->set_validator_index(i);
      s->set_signature(precommit(height, round, block_id, i).signature());
    }
    return cert;
  }

  // own: this validator's index, or nullopt for a core that follows without a key.
  Config config(std::optional<std::uint32_t> own, std::uint64_t height = 1) const {
    Config config;
    config.chain_id = chain;
    if (own) config.key = keys[*own].clone();
    config.validators = set;
    config.height = height;
    return config;
  }

  std::vector<crypto::SecretKey> keys;
  ValidatorSet set;
};

// Feeds inputs to a core. With auto_persist / auto_validate on it answers
// Persist and ValidateBlock itself and returns every output, in order.
class Driver {
 public:
  Driver(Config config, bool auto_persist = true, bool auto_validate = true)
      : core(std::move(config), verifier), auto_persist_(auto_persist), auto_validate_(auto_validate) {}

  std::vector<Output> feed(Input input) {
    std::vector<Output> all;
    std::deque<Input> pending{std::move(input)};
    for (int guard = 0; !pending.empty() && guard < 1000; ++guard) {
      std::vector<Output> outputs = core.handle(pending.front());
      pending.pop_front();
      for (const Output& output : outputs) {
        if (const auto* persist = std::get_if<Persist>(&output); persist && auto_persist_) {
          pending.push_back(Persisted{persist->state});
        }
        if (const auto* validate = std::get_if<ValidateBlock>(&output); validate && auto_validate_) {
          pending.push_back(
              BlockValidated{validate->height, validate->block_id, !invalid.contains(validate->block_id)});
        }
        all.push_back(output);
      }
    }
    return all;
  }
  std::vector<Output> vote(const pb::Vote& v) { return feed(VoteReceived{v}); }
  std::vector<Output> proposal(const pb::ProposalMessage& p) { return feed(ProposalReceived{p}); }
  std::vector<Output> timeout(std::uint64_t h, std::uint32_t r, Step s) {
    return feed(TimeoutFired{h, r, s});
  }

  Bip340Verifier verifier;
  Core core;
  std::set<BlockId> invalid;

 private:
  bool auto_persist_;
  bool auto_validate_;
};

}  // namespace cityledger::consensus::testing
