#include "proto/objects.hpp"

#include <vector>

#include "crypto/merkle.hpp"
#include "crypto/sha256.hpp"
#include "crypto/signing.hpp"
#include "proto/codec.hpp"
#include "proto/contracts.hpp"

namespace cityledger::proto {

Result<Hash32> hash_field(const std::string& bytes, std::string_view field_name) {
  if (bytes.size() != 32) {
    return error(ErrorCode::invalid_argument,
                 std::string(field_name) + " must be 32 bytes, got " + std::to_string(bytes.size()));
  }
  return Hash32::from_span(as_bytes(bytes));
}

Hash32 hash_message(const google::protobuf::Message& message) { return crypto::sha256(encode(message)); }

Hash32 tx_hash(const pb::Transaction& tx) { return hash_message(tx); }

pb::Transaction sign_transaction(const pb::TxBody& body, const crypto::SecretKey& key) {
  pb::Transaction tx;
  tx.set_body(encode(body));
  const Hash32 digest =
      crypto::signing_digest(crypto::purpose::transaction, body.chain_id(), as_bytes(tx.body()));
  tx.set_signature(key.sign(digest).to_string());
  return tx;
}

Status validate_anchor_entry(const pb::AnchorEntry& entry, const Limits& limits) {
  if (entry.content_hash().size() != 32) {
    return error(ErrorCode::invalid_argument,
                 "content_hash must be 32 bytes, got " + std::to_string(entry.content_hash().size()));
  }
  if (entry.kind() == pb::ENTRY_KIND_UNSPECIFIED || !pb::EntryKind_IsValid(entry.kind())) {
    return error(ErrorCode::invalid_argument, "entry kind is missing or unknown");
  }
  if (entry.dataset_id().size() > limits.max_dataset_id_bytes) {
    return error(ErrorCode::invalid_argument,
                 "dataset_id is longer than " + std::to_string(limits.max_dataset_id_bytes) + " bytes");
  }
  if (static_cast<std::size_t>(entry.metadata_size()) > limits.max_metadata_fields) {
    return error(ErrorCode::invalid_argument,
                 "more than " + std::to_string(limits.max_metadata_fields) + " metadata fields");
  }
  const std::string* previous_key = nullptr;
  for (const auto& field : entry.metadata()) {
    if (field.key().empty() || field.key().size() > limits.max_metadata_key_bytes) {
      return error(ErrorCode::invalid_argument,
                   "metadata key must be 1.." + std::to_string(limits.max_metadata_key_bytes) + " bytes");
    }
    if (field.value().size() > limits.max_metadata_value_bytes) {
      return error(ErrorCode::invalid_argument, "metadata value for '" + field.key() + "' is longer than " +
                                                    std::to_string(limits.max_metadata_value_bytes) +
                                                    " bytes");
    }
    if (previous_key != nullptr && !(*previous_key < field.key())) {
      return error(ErrorCode::invalid_argument, "metadata keys must be unique and in ascending order");
    }
    previous_key = &field.key();
  }
  return {};
}

Result<VerifiedTransaction> check_transaction(const pb::Transaction& tx, std::string_view chain_id,
                                              const Limits& limits) {
  if (tx.ByteSizeLong() > limits.max_transaction_bytes) {
    return error(ErrorCode::invalid_argument,
                 "transaction is larger than " + std::to_string(limits.max_transaction_bytes) + " bytes");
  }
  VerifiedTransaction out;
  CL_TRY(decode_into(as_bytes(tx.body()), out.body, limits.max_transaction_bytes));
  const pb::TxBody& body = out.body;
  if (body.chain_id() != chain_id) {
    return error(ErrorCode::invalid_argument,
                 "transaction is for chain '" + body.chain_id() + "', not '" + std::string(chain_id) + "'");
  }
  auto signer = hash_field(body.signer(), "signer");
  if (!signer.ok()) return signer.status();
  if (!crypto::is_valid_public_key(*signer)) {
    return error(ErrorCode::invalid_argument, "signer is not a valid x-only public key");
  }
  if (body.nonce() == 0) return error(ErrorCode::invalid_argument, "nonce must be at least 1");
  switch (body.action_case()) {
    case pb::TxBody::kAnchor: {
      const auto& entries = body.anchor().entries();
      if (entries.empty()) return error(ErrorCode::invalid_argument, "anchor batch is empty");
      if (static_cast<std::size_t>(entries.size()) > limits.max_entries_per_batch) {
        return error(
            ErrorCode::invalid_argument,
            "anchor batch has more than " + std::to_string(limits.max_entries_per_batch) + " entries");
      }
      for (int i = 0; i < entries.size(); ++i) {
        Status s = validate_anchor_entry(entries[i], limits);
        if (s.ok() && (entries[i].kind() == pb::ENTRY_KIND_CONTRACT_EVENT ||
                       entries[i].kind() == pb::ENTRY_KIND_CONTRACT_REGISTRATION)) {
          // Such leaves come only from contract actions, with their co-signatures.
          s = error(ErrorCode::invalid_argument,
                    "contract registrations and events are anchored by a contract transaction, not a batch");
        }
        if (!s.ok()) return error(s.code(), "entry " + std::to_string(i) + ": " + s.message());
      }
      break;
    }
    case pb::TxBody::kContract:
      if (Status s = validate_contract_action(body.contract()); !s.ok()) {
        return error(s.code(), "contract action: " + s.message());
      }
      break;
    case pb::TxBody::kGovernance:
      break;
    case pb::TxBody::ACTION_NOT_SET:
      return error(ErrorCode::invalid_argument, "transaction has no action");
  }
  out.signer = *signer;
  return out;
}

Status check_transaction_signature(const pb::Transaction& tx, std::string_view chain_id,
                                   const crypto::PublicKey& signer) {
  const Hash32 digest = crypto::signing_digest(crypto::purpose::transaction, chain_id, as_bytes(tx.body()));
  if (!crypto::verify(signer, digest, as_bytes(tx.signature()))) {
    return error(ErrorCode::permission_denied, "transaction signature does not verify for its signer");
  }
  return {};
}

Result<VerifiedTransaction> verify_transaction(const pb::Transaction& tx, std::string_view chain_id,
                                               const Limits& limits) {
  auto out = check_transaction(tx, chain_id, limits);
  if (!out) return out;
  CL_TRY(check_transaction_signature(tx, chain_id, out->signer));
  out->hash = tx_hash(tx);
  return out;
}

std::string log_entry_bytes(const pb::LogEntry& entry) { return encode(entry); }

Hash32 log_leaf_hash(const pb::LogEntry& entry) {
  return crypto::merkle::leaf_hash(as_bytes(log_entry_bytes(entry)));
}

Hash32 block_hash(const pb::BlockHeader& header) { return hash_message(header); }

Hash32 txs_root(const google::protobuf::RepeatedPtrField<pb::Transaction>& txs) {
  std::vector<Hash32> leaves;
  leaves.reserve(static_cast<std::size_t>(txs.size()));
  for (const auto& tx : txs) leaves.push_back(crypto::merkle::leaf_hash(tx_hash(tx).span()));
  return crypto::merkle::root(leaves);
}

namespace {
template <typename M>
Hash32 digest_without_signature(const M& message, std::string_view purpose, std::string_view chain_id) {
  M unsigned_copy = message;
  unsigned_copy.clear_signature();
  return crypto::signing_digest(purpose, chain_id, as_bytes(encode(unsigned_copy)));
}
}  // namespace

Hash32 vote_digest(const pb::Vote& vote, std::string_view chain_id) {
  return digest_without_signature(vote, crypto::purpose::vote, chain_id);
}

void sign_vote(pb::Vote& vote, std::string_view chain_id, const crypto::SecretKey& key) {
  vote.set_signature(key.sign(vote_digest(vote, chain_id)).to_string());
}

bool verify_vote(const pb::Vote& vote, std::string_view chain_id, const crypto::PublicKey& key) {
  return crypto::verify(key, vote_digest(vote, chain_id), as_bytes(vote.signature()));
}

Hash32 proposal_digest(const pb::Proposal& proposal, std::string_view chain_id) {
  return digest_without_signature(proposal, crypto::purpose::proposal, chain_id);
}

void sign_proposal(pb::Proposal& proposal, std::string_view chain_id, const crypto::SecretKey& key) {
  proposal.set_signature(key.sign(proposal_digest(proposal, chain_id)).to_string());
}

bool verify_proposal(const pb::Proposal& proposal, std::string_view chain_id, const crypto::PublicKey& key) {
  return crypto::verify(key, proposal_digest(proposal, chain_id), as_bytes(proposal.signature()));
}

Hash32 governance_digest(std::string_view chain_id, ByteSpan proposal_bytes) {
  return crypto::signing_digest(crypto::purpose::governance, chain_id, proposal_bytes);
}

pb::Vote precommit_of(const pb::CommitCertificate& cert, const pb::CommitSignature& signature) {
  pb::Vote vote;
  vote.set_type(pb::VOTE_TYPE_PRECOMMIT);
  vote.set_height(cert.height());
  vote.set_round(cert.round());
  vote.set_block_id(cert.block_id());
  vote.set_validator_index(signature.validator_index());
  vote.set_signature(signature.signature());
  return vote;
}

}  // namespace cityledger::proto
