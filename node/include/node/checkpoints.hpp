// Checkpoint signatures: after each commit every validator signs the C2SP
// checkpoint of the log (crypto/checkpoint.hpp) and gossips the signature; a
// checkpoint with signatures of 2f+1 validators is final and is kept.
//
// Not thread-safe: used from the node's consensus strand only.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "cityledger.pb.h"
#include "consensus/types.hpp"
#include "crypto/checkpoint.hpp"

namespace cityledger::node {

class CheckpointCollector {
 public:
  explicit CheckpointCollector(std::string chain_id);

  // A block was committed by `validators` (the set in charge of its height,
  // which alone may sign its checkpoint): returns our own signature to gossip
  // after adding it, when `key` (may be null) is in that set.
  std::optional<pb::CheckpointSignature> on_commit(std::uint64_t height, std::uint64_t tree_size,
                                                   const Hash32& root, const Hash32& block_hash,
                                                   const consensus::ValidatorSet& validators,
                                                   const crypto::SecretKey* key);

  // A peer's signature. Kept until its height is committed here (bounded);
  // verified then. Returns true when this made the checkpoint final.
  bool add(const pb::CheckpointSignature& signature);

  // Final checkpoints (2f+1 valid signatures), newest last.
  std::optional<pb::Checkpoint> final_at_height(std::uint64_t height) const;
  std::optional<pb::Checkpoint> final_at_size(std::uint64_t tree_size) const;
  std::optional<pb::Checkpoint> latest_final() const;
  // The body and every valid signature so far (final or not).
  std::optional<pb::Checkpoint> at_height(std::uint64_t height) const;

  // Final checkpoints that became final or gained a signature since the last
  // call, as (height, tree size, checkpoint): what the node must store.
  struct Changed {
    std::uint64_t height = 0;
    std::uint64_t tree_size = 0;
    pb::Checkpoint checkpoint;
  };
  std::vector<Changed> take_changed();

 private:
  struct Pending {
    std::string body;
    std::uint64_t height = 0;
    std::uint64_t tree_size = 0;
    consensus::ValidatorSet validators;                         // in charge of `height`
    std::map<crypto::PublicKey, crypto::Signature> signatures;  // valid ones only
    bool final = false;
  };
  // A peer's signature is verified first; this node's own, made just now, is not.
  enum class Signer { own, peer };
  bool add_verified(Pending& p, const crypto::PublicKey& validator, const crypto::Signature& signature,
                    Signer signer);
  pb::Checkpoint to_proto(const Pending& p) const;

  std::string chain_id_;
  std::map<std::uint64_t, Pending> by_height_;
  std::map<std::uint64_t, std::uint64_t> final_by_size_;                 // tree size -> height
  std::set<std::uint64_t> changed_;                                      // heights, for take_changed()
  std::map<std::uint64_t, std::vector<pb::CheckpointSignature>> early_;  // before our own commit
  static constexpr std::size_t early_max_heights = 64;
  static constexpr std::size_t early_max_per_height = 64;
  static constexpr std::size_t kept_heights = 100'000;
};

}  // namespace cityledger::node
