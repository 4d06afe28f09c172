#include "node/application.hpp"

#include <spdlog/spdlog.h>

#include <map>
#include <optional>
#include <set>
#include <vector>

#include "consensus/core.hpp"
#include "proto/codec.hpp"
#include "proto/objects.hpp"

namespace cityledger::node {

Application::Application(const audit::Genesis& genesis, ledger::Store& store, Mempool& mempool,
                         ChainState& chain, BlockLimits limits)
    : genesis_(genesis), store_(store), mempool_(mempool), chain_(chain), limits_(limits) {}

BlockLimits Application::effective_limits() const {
  BlockLimits out = limits_;
  if (auto governed = chain_.governed_block_limits()) {
    out.max_txs = governed->max_txs;
    out.max_bytes = governed->max_bytes;
  }
  return out;
}

Hash32 Application::previous_block_hash(std::uint64_t height) const {
  if (height <= 1) return genesis_.hash;
  const auto head = store_.head();
  CL_CHECK(head.height == height - 1);
  return head.block_hash;
}

pb::Block Application::build_block(std::uint64_t height, const pb::CommitCertificate& last_commit,
                                   std::uint32_t proposer_index, std::uint64_t now_ms) const {
  pb::Block block;
  auto* header = block.mutable_header();
  header->set_chain_id(genesis_.chain_id);
  header->set_height(height);
  const auto previous = previous_block_time(height);
  const std::uint64_t previous_time = previous ? *previous : 0;
  if (height > 1) {
    *block.mutable_last_commit() = last_commit;
    header->set_last_commit_hash(proto::to_field(proto::hash_message(last_commit)));
  }
  header->set_time_unix_ms(std::max(now_ms, previous_time + 1));
  header->set_previous_block_hash(proto::to_field(previous_block_hash(height)));
  const auto limits = effective_limits();
  // Actions the block could not carry stay out, and so do later transactions
  // of their signers, whose nonces would no longer follow: a governance action
  // made stale by a commit since admission (or a second set change) leaves the
  // mempool; a contract action that conflicts with an earlier one in the block
  // (the mempool refuses such a second pending action, so this should not
  // happen) waits, and the mempool drops it once a commit makes it invalid.
  BlockGovernance governance;
  ContractScratch contracts;
  std::set<crypto::PublicKey> held_back;
  for (auto& tx : mempool_.reap(limits.max_txs, limits.max_bytes)) {
    auto body = proto::decode<pb::TxBody>(tx.body());
    CL_CHECK(body.ok());  // the mempool admitted only well-formed transactions
    const auto signer = Hash32::from_span(as_bytes(body->signer()));
    if (held_back.contains(signer)) continue;
    if (body->has_governance()) {
      if (Status s = chain_.check_governance_in_block(body->governance(), height, governance); !s.ok()) {
        spdlog::warn("dropping governance transaction {} from the mempool: {}", proto::tx_hash(tx).hex(),
                     s.message());
        mempool_.remove(proto::tx_hash(tx));
        held_back.insert(signer);
        continue;
      }
    }
    if (body->has_contract() &&
        !chain_.contracts().check(body->contract(), /*verify_signatures=*/false, &contracts).ok()) {
      held_back.insert(signer);
      continue;
    }
    *block.add_txs() = std::move(tx);
  }
  header->set_tx_count(static_cast<std::uint32_t>(block.txs_size()));
  header->set_txs_root(proto::to_field(proto::txs_root(block.txs())));
  header->set_validator_set_hash(proto::to_field(chain_.validator_set_at(height).hash()));
  header->set_proposer_index(proposer_index);
  auto leaves = ledger::log_leaf_hashes(block);
  CL_CHECK(leaves.ok());  // the mempool admitted only well-formed transactions
  const auto log = store_.log_head_after(*leaves);
  header->set_log_size(log.size);
  header->set_log_root(proto::to_field(log.root));
  return block;
}

Status Application::validate_transactions(const pb::Block& block) const {
  std::map<crypto::PublicKey, std::uint64_t> next_nonce;
  ContractScratch contracts;
  BlockGovernance governance;
  std::size_t bytes = 0;
  // Checked once: a transaction this node's mempool admitted passed every
  // check below but the nonce order, which depends on the block. The others
  // are verified first, spread over parallel_for_.
  const auto n = static_cast<std::size_t>(block.txs_size());
  std::vector<Hash32> hashes(n);
  std::vector<std::size_t> unverified;
  for (std::size_t i = 0; i < n; ++i) {
    hashes[i] = proto::tx_hash(block.txs(static_cast<int>(i)));
    if (!mempool_.was_verified(hashes[i])) unverified.push_back(i);
  }
  std::vector<std::optional<Result<proto::VerifiedTransaction>>> verified_now(n);
  auto verify_one = [&](std::size_t k) {
    const std::size_t i = unverified[k];
    // Its hash is known already: the two steps of verify_transaction without it.
    const auto& tx = block.txs(static_cast<int>(i));
    auto checked = proto::check_transaction(tx, genesis_.chain_id);
    if (checked) {
      if (Status s = proto::check_transaction_signature(tx, genesis_.chain_id, checked->signer); !s.ok())
        checked = s;
    }
    // Told to the mempool, so the gossiped copy of this transaction, maybe
    // still on its way, is not verified a second time.
    if (checked) mempool_.note_signature_verified(hashes[i]);
    verified_now[i] = std::move(checked);
  };
  if (parallel_for_ && unverified.size() > 1) {
    parallel_for_(unverified.size(), verify_one);
  } else {
    for (std::size_t k = 0; k < unverified.size(); ++k) verify_one(k);
  }
  for (int i = 0; i < block.txs_size(); ++i) {
    const auto& tx = block.txs(i);
    const std::string where = "transaction " + std::to_string(i) + ": ";
    bytes += tx.ByteSizeLong();
    const Hash32& hash = hashes[static_cast<std::size_t>(i)];
    pb::TxBody body;
    crypto::PublicKey signer;
    auto& verified = verified_now[static_cast<std::size_t>(i)];
    const bool verified_here = !verified.has_value();
    if (verified_here) {
      if (Status s = proto::decode_into(as_bytes(tx.body()), body); !s.ok())
        return error(s.code(), where + s.message());
      signer = Hash32::from_span(as_bytes(body.signer()));
    } else {
      if (!*verified) return error(verified->status().code(), where + verified->status().message());
      body = std::move((*verified)->body);
      signer = (*verified)->signer;
      auto account = chain_.account(signer);
      if (!account) return error(ErrorCode::permission_denied, where + "signer is not an account");
      if (!holds_required_role(*account, body)) {
        return error(ErrorCode::permission_denied, where + "signer lacks the role its action needs");
      }
    }
    // Governance is checked in every block, even when the mempool admitted
    // the transaction: an earlier action of this block, or one committed since
    // admission, can make it inapplicable (a second set change, a stale set).
    if (body.has_governance()) {
      if (Status s = chain_.check_governance_in_block(body.governance(), block.header().height(), governance);
          !s.ok()) {
        return error(s.code(), where + "governance: " + s.message());
      }
    }
    auto it = next_nonce.find(signer);
    if (it == next_nonce.end()) {
      auto account = chain_.account(signer);
      if (!account) return error(ErrorCode::permission_denied, where + "signer is not an account");
      it = next_nonce.emplace(signer, account->next_nonce).first;
    }
    if (body.nonce() != it->second) {
      // A committed transaction's nonce is below its account's next nonce, so
      // the nonce rule alone refuses a replay; the store is asked only to
      // name the reason (a lookup per transaction on the normal path is not
      // needed for the verdict).
      if (body.nonce() < it->second && chain_.is_committed(hash))
        return error(ErrorCode::already_exists, where + "already committed");
      return error(ErrorCode::invalid_argument, where + "nonce " + std::to_string(body.nonce()) +
                                                    ", expected " + std::to_string(it->second));
    }
    ++it->second;
    if (body.has_contract()) {
      if (Status s = chain_.contracts().check(body.contract(), !verified_here, &contracts); !s.ok()) {
        return error(s.code(), where + s.message());
      }
    }
  }
  const auto limits = effective_limits();
  if (static_cast<std::size_t>(block.txs_size()) > limits.max_txs || bytes > limits.max_bytes) {
    return error(ErrorCode::invalid_argument, "block is over the size limits (" +
                                                  std::to_string(limits.max_txs) + " transactions, " +
                                                  std::to_string(limits.max_bytes) + " bytes)");
  }
  return {};
}

Status Application::validate_block(const pb::Block& block, std::uint64_t now_ms) const {
  const auto& h = block.header();
  const std::uint64_t expected_height = store_.last_height() + 1;
  if (h.chain_id() != genesis_.chain_id)
    return error(ErrorCode::invalid_argument, "block is for another chain");
  if (h.height() != expected_height) {
    return error(ErrorCode::invalid_argument, "block height " + std::to_string(h.height()) + ", expected " +
                                                  std::to_string(expected_height));
  }
  if (h.previous_block_hash() != proto::to_field(previous_block_hash(h.height()))) {
    return error(ErrorCode::invalid_argument, "previous_block_hash does not match the chain");
  }
  if (h.height() > 1) {
    auto previous_time = previous_block_time(h.height());
    if (!previous_time) return previous_time.status();
    if (h.time_unix_ms() <= *previous_time) {
      return error(ErrorCode::invalid_argument, "block time does not move forward");
    }
    if (!block.has_last_commit() ||
        h.last_commit_hash() != proto::to_field(proto::hash_message(block.last_commit()))) {
      return error(ErrorCode::invalid_argument, "last_commit missing or last_commit_hash wrong");
    }
    if (!last_commit_holds(block)) {
      return error(ErrorCode::invalid_argument, "last_commit is not a valid commit of the previous block");
    }
  } else if (block.has_last_commit() || !h.last_commit_hash().empty()) {
    return error(ErrorCode::invalid_argument, "block 1 carries no last commit");
  }
  if (h.time_unix_ms() > now_ms + limits_.max_clock_drift_ms) {
    return error(ErrorCode::invalid_argument, "block time is too far in the future");
  }
  const consensus::ValidatorSet validators = chain_.validator_set_at(h.height());
  if (h.validator_set_hash() != proto::to_field(validators.hash())) {
    return error(
        ErrorCode::invalid_argument,
        "validator_set_hash is not that of the set in charge of height " + std::to_string(h.height()));
  }
  if (h.proposer_index() >= validators.size())
    return error(ErrorCode::invalid_argument, "proposer_index out of range");
  if (h.tx_count() != static_cast<std::uint32_t>(block.txs_size()) ||
      h.txs_root() != proto::to_field(proto::txs_root(block.txs()))) {
    return error(ErrorCode::invalid_argument, "tx_count or txs_root does not match the transactions");
  }
  CL_TRY(validate_transactions(block));
  auto leaves = ledger::log_leaf_hashes(block);
  if (!leaves) return leaves.status();
  const auto log = store_.log_head_after(*leaves);
  if (h.log_size() != log.size || h.log_root() != proto::to_field(log.root)) {
    return error(ErrorCode::invalid_argument, "log_size/log_root do not match the log after this block");
  }
  return {};
}

Result<std::uint64_t> Application::previous_block_time(std::uint64_t height) const {
  if (height <= 1) return std::uint64_t{0};
  if (last_height_ == height - 1) return last_time_ms_;
  auto previous = store_.get_block(height - 1);
  if (!previous) return previous.status();
  return previous->header().time_unix_ms();
}

namespace {
// Answers "verified" for the precommit signatures of a certificate this node
// already holds as verified (the core checked each vote, or catch-up checked
// the certificate, before commit()); any other signature is verified.
class KnownPrecommits final : public consensus::SignatureVerifier {
 public:
  KnownPrecommits(const pb::CommitCertificate& known, const consensus::ValidatorSet& validators,
                  const std::string& chain_id) {
    for (const pb::CommitSignature& s : known.signatures()) {
      if (s.validator_index() >= validators.size()) continue;
      known_.push_back({validators.key(s.validator_index()),
                        proto::vote_digest(proto::precommit_of(known, s), chain_id), s.signature()});
    }
  }
  bool verify(const crypto::PublicKey& key, const Hash32& digest, const std::string& signature) override {
    for (const auto& k : known_) {
      if (k.key == key && k.digest == digest && k.signature == signature) return true;
    }
    return fallback_.verify(key, digest, signature);
  }

 private:
  struct Known {
    crypto::PublicKey key;
    Hash32 digest;
    std::string signature;
  };
  std::vector<Known> known_;
  consensus::Bip340Verifier fallback_;
};
}  // namespace

bool Application::last_commit_holds(const pb::Block& block) const {
  const std::uint64_t previous = block.header().height() - 1;
  // The previous block was committed by the set in charge of its height.
  const consensus::ValidatorSet validators = chain_.validator_set_at(previous);
  pb::CommitCertificate none;
  KnownPrecommits verifier(last_height_ == previous ? last_certificate_ : none, validators,
                           genesis_.chain_id);
  return consensus::verify_commit_certificate(block.last_commit(), genesis_.chain_id, validators, previous,
                                              previous_block_hash(block.header().height()), verifier);
}

Status Application::commit(const pb::Block& block, const pb::CommitCertificate& certificate,
                           std::vector<std::uint64_t>* admitted_ms, std::vector<Hash32>* tx_hashes) {
  CL_TRY(store_.apply_block(block, certificate));
  last_height_ = block.header().height();
  last_time_ms_ = block.header().time_unix_ms();
  last_certificate_ = certificate;
  chain_.apply(block);
  std::vector<Hash32> hashes;
  hashes.reserve(static_cast<std::size_t>(block.txs_size()));
  for (const auto& tx : block.txs()) hashes.push_back(proto::tx_hash(tx));
  auto admitted = mempool_.remove_committed(hashes);
  if (admitted_ms) *admitted_ms = std::move(admitted);
  if (tx_hashes) *tx_hashes = std::move(hashes);
  return {};
}

}  // namespace cityledger::node
