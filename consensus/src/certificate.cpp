// Commit certificates: 2f+1 precommit signatures for one block at one height.
#include "consensus/core.hpp"
#include "proto/objects.hpp"

namespace cityledger::consensus {

bool verify_commit_certificate(const pb::CommitCertificate& cert, std::string_view chain_id,
                               const ValidatorSet& validators, std::uint64_t height, const BlockId& block_id,
                               SignatureVerifier& verifier) {
  if (cert.height() != height || cert.block_id() != block_id.to_string()) return false;
  if (static_cast<std::uint64_t>(cert.signatures_size()) > validators.size()) return false;
  // Canonical form only: strictly ascending indexes, so no validator counts
  // twice, and every signature must verify (a certificate goes into the next
  // block's last_commit as it is, junk included).
  std::int64_t previous_index = -1;
  for (const pb::CommitSignature& signature : cert.signatures()) {
    const std::uint32_t index = signature.validator_index();
    if (index >= validators.size() || static_cast<std::int64_t>(index) <= previous_index) return false;
    previous_index = index;
    if (signature.signature().size() != 64) return false;
    const pb::Vote precommit = proto::precommit_of(cert, signature);
    if (!verifier.verify(validators.key(index), proto::vote_digest(precommit, chain_id),
                         signature.signature())) {
      return false;
    }
  }
  return static_cast<std::uint32_t>(cert.signatures_size()) >= validators.quorum();
}

}  // namespace cityledger::consensus
