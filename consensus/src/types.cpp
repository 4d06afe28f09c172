// ValidatorSet, Timeouts, names, and the real BIP340 verifier.
#include "consensus/types.hpp"

#include <algorithm>
#include <limits>

#include "common/check.hpp"
#include "crypto/sha256.hpp"

namespace cityledger::consensus {

const char* step_name(Step step) {
  switch (step) {
    case Step::propose:
      return "propose";
    case Step::prevote:
      return "prevote";
    case Step::precommit:
      return "precommit";
  }
  return "unknown";
}

const char* drop_reason_name(DropReason reason) {
  switch (reason) {
    case DropReason::malformed:
      return "malformed";
    case DropReason::not_a_validator:
      return "not_a_validator";
    case DropReason::wrong_proposer:
      return "wrong_proposer";
    case DropReason::bad_signature:
      return "bad_signature";
    case DropReason::old_height:
      return "old_height";
    case DropReason::future_height:
      return "future_height";
    case DropReason::duplicate:
      return "duplicate";
    case DropReason::block_mismatch:
      return "block_mismatch";
    case DropReason::invalid_block:
      return "invalid_block";
    case DropReason::bad_certificate:
      return "bad_certificate";
    case DropReason::future_round:
      return "future_round";
    case DropReason::conflicting_proposal:
      return "conflicting_proposal";
    case DropReason::count_:
      break;
  }
  return "unknown";
}

ValidatorSet::ValidatorSet(std::vector<crypto::PublicKey> keys) : keys_(std::move(keys)) {
  // Two indexes with one key would let one signer count twice towards a quorum.
  std::vector<crypto::PublicKey> sorted = keys_;
  std::sort(sorted.begin(), sorted.end());
  CL_CHECK(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end());
}

const crypto::PublicKey& ValidatorSet::key(std::uint32_t index) const {
  CL_CHECK(index < size());
  return keys_[index];
}

std::optional<std::uint32_t> ValidatorSet::index_of(const crypto::PublicKey& key) const {
  for (std::uint32_t i = 0; i < size(); ++i) {
    if (keys_[i] == key) return i;
  }
  return std::nullopt;
}

std::uint32_t ValidatorSet::proposer(std::uint64_t height, std::uint32_t round) const {
  CL_CHECK(size() > 0);
  // Height 1, round 0 is validator 0; each later round and height moves one on.
  const std::uint64_t n = size();
  const std::uint64_t h = height == 0 ? 0 : height - 1;
  return static_cast<std::uint32_t>((h % n + round % n) % n);
}

Hash32 ValidatorSet::hash() const {
  crypto::Sha256 sha;
  for (const auto& key : keys_) sha.update(key.span());
  return sha.finish();
}

std::uint64_t Timeouts::duration_ms(Step step, std::uint32_t round) const {
  std::uint64_t base = 0;
  std::uint64_t delta = 0;
  switch (step) {
    case Step::propose:
      base = propose_ms;
      delta = propose_delta_ms;
      break;
    case Step::prevote:
      base = prevote_ms;
      delta = prevote_delta_ms;
      break;
    case Step::precommit:
      base = precommit_ms;
      delta = precommit_delta_ms;
      break;
  }
  // Saturate instead of wrapping: a huge round must never yield a short timeout.
  constexpr std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
  if (delta != 0 && round > (max - base) / delta) return max;
  return base + static_cast<std::uint64_t>(round) * delta;
}

bool Bip340Verifier::verify(const crypto::PublicKey& key, const Hash32& digest,
                            const std::string& signature) {
  return crypto::verify(key, digest, as_bytes(signature));
}

}  // namespace cityledger::consensus
