// Identities, signatures and checks of the protocol's objects: how a
// transaction, a vote, a proposal and a block are hashed, signed and verified.
// One place for these rules, shared by the ledger, consensus, the node and the
// CLI (see docs/encoding.md for the byte-level definitions).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "cityledger.pb.h"
#include "common/bytes.hpp"
#include "common/result.hpp"
#include "crypto/schnorr.hpp"

namespace cityledger::proto {

// Limits on what a transaction may carry. Refused at decode, with the reason.
struct Limits {
  std::size_t max_transaction_bytes = 1u << 20;
  std::size_t max_entries_per_batch = 10'000;
  std::size_t max_dataset_id_bytes = 256;
  std::size_t max_metadata_fields = 32;
  std::size_t max_metadata_key_bytes = 64;
  std::size_t max_metadata_value_bytes = 1024;
};

// A 32-byte `bytes` field, or invalid_argument naming the field.
Result<Hash32> hash_field(const std::string& bytes, std::string_view field_name);
inline std::string to_field(const Hash32& h) { return h.to_string(); }

Hash32 hash_message(const google::protobuf::Message& message);  // SHA-256(canonical bytes)

// ---- transactions
Hash32 tx_hash(const pb::Transaction& tx);
pb::Transaction sign_transaction(const pb::TxBody& body, const crypto::SecretKey& key);

// A transaction whose body decoded canonically, names `chain_id`, passes the
// limits and carries a valid signature of its signer.
struct VerifiedTransaction {
  pb::TxBody body;
  crypto::PublicKey signer;
  Hash32 hash;
};
Result<VerifiedTransaction> verify_transaction(const pb::Transaction& tx, std::string_view chain_id,
                                               const Limits& limits = {});
// verify_transaction in two steps, for a caller with cheap refusals to make
// between them (the mempool): every check but the signature (`hash` is left
// empty), then the signature alone.
Result<VerifiedTransaction> check_transaction(const pb::Transaction& tx, std::string_view chain_id,
                                              const Limits& limits = {});
Status check_transaction_signature(const pb::Transaction& tx, std::string_view chain_id,
                                   const crypto::PublicKey& signer);

Status validate_anchor_entry(const pb::AnchorEntry& entry, const Limits& limits = {});

// ---- the Merkle log
std::string log_entry_bytes(const pb::LogEntry& entry);  // the leaf's bytes
Hash32 log_leaf_hash(const pb::LogEntry& entry);

// ---- blocks
Hash32 block_hash(const pb::BlockHeader& header);
Hash32 txs_root(const google::protobuf::RepeatedPtrField<pb::Transaction>& txs);

// ---- votes and proposals
Hash32 vote_digest(const pb::Vote& vote, std::string_view chain_id);  // signature ignored
void sign_vote(pb::Vote& vote, std::string_view chain_id, const crypto::SecretKey& key);
bool verify_vote(const pb::Vote& vote, std::string_view chain_id, const crypto::PublicKey& key);

Hash32 proposal_digest(const pb::Proposal& proposal, std::string_view chain_id);
void sign_proposal(pb::Proposal& proposal, std::string_view chain_id, const crypto::SecretKey& key);
bool verify_proposal(const pb::Proposal& proposal, std::string_view chain_id, const crypto::PublicKey& key);

// ---- governance (docs/governance.md)
// The digest a validator's approval signs: over the canonical
// GovernanceProposal bytes exactly as carried in GovernanceAction.proposal.
Hash32 governance_digest(std::string_view chain_id, ByteSpan proposal_bytes);

// The precommit a commit signature was made over.
pb::Vote precommit_of(const pb::CommitCertificate& cert, const pb::CommitSignature& signature);

}  // namespace cityledger::proto
