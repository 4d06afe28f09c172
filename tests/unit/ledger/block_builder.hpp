// Test helpers for anything that needs real blocks on a real store: a temp
// directory, store options for a test chain, and a builder that makes the next
// valid block (signed transactions, txs_root, log head from
// Store::log_head_after, a signed commit certificate) on top of a store.
//
// The builder keeps no state of its own: nonces and content hashes derive from
// the store's height and log size, so a process that reopens a store (the
// crash test's child) builds exactly the blocks it would have built anyway.
// Free of GoogleTest so benchmarks and other tiers can include it.
#pragma once

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <vector>

#include "crypto/schnorr.hpp"
#include "crypto/sha256.hpp"
#include "ledger/store.hpp"
#include "proto/codec.hpp"
#include "proto/objects.hpp"

namespace cityledger::ledger::testing {

// Sanitizer builds run several times slower: long tests scale their loops down.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool sanitized_build = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool sanitized_build = true;
#else
inline constexpr bool sanitized_build = false;
#endif
#else
inline constexpr bool sanitized_build = false;
#endif

inline const std::string test_chain_id = "ledger-test-chain";
inline Hash32 test_genesis_hash() { return crypto::sha256(std::string_view("genesis of ledger-test-chain")); }

inline StoreOptions test_options(bool create_if_missing = true) {
  StoreOptions options;
  options.chain_id = test_chain_id;
  options.genesis_hash = test_genesis_hash();
  options.create_if_missing = create_if_missing;
  return options;
}

// A fresh directory under the system temp dir, removed with everything in it.
class TempDir {
 public:
  explicit TempDir(const std::string& label = "ledger") {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("cityledger-" + label + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path store() const { return path_ / "store"; }

 private:
  std::filesystem::path path_;
};

struct CommittedBlock {
  pb::Block block;
  pb::CommitCertificate commit;
};

// The content hash the builder anchors at global leaf `index`: distinct for
// every leaf unless content_space is smaller than the log, then it repeats
// (one content hash anchored by several leaves).
inline Hash32 test_content_hash(std::uint64_t index, std::uint64_t content_space) {
  return crypto::sha256("content " + std::to_string(index % content_space));
}

class BlockBuilder {
 public:
  explicit BlockBuilder(std::string chain_id = test_chain_id, Hash32 genesis_hash = test_genesis_hash())
      : chain_id_(std::move(chain_id)), genesis_hash_(genesis_hash) {}

  std::uint64_t content_space = ~std::uint64_t{0};

  // One signed transaction per element: n > 0 anchors n entries, 0 is a
  // governance transaction (adds no leaf). Heights and log indexes come from
  // `store`, so consecutive calls interleaved with apply_block make a chain.
  CommittedBlock next(const Store& store, const std::vector<int>& entries_per_tx) const {
    const ChainHead head = store.head();
    const std::uint64_t height = head.height + 1;
    pb::Block block;
    std::uint64_t leaf = head.log.size;
    for (std::size_t position = 0; position < entries_per_tx.size(); ++position) {
      const auto key = crypto::SecretKey::from_seed_for_testing(1 + position % 3);
      pb::TxBody body;
      body.set_chain_id(chain_id_);
      body.set_signer(key.public_key().to_string());
      body.set_nonce(height * 100'000 + position + 1);
      if (entries_per_tx[position] == 0) {
        body.mutable_governance()->set_proposal("proposal-" + std::to_string(height));
      }
      for (int i = 0; i < entries_per_tx[position]; ++i, ++leaf) {
        pb::AnchorEntry* entry = body.mutable_anchor()->add_entries();
        entry->set_content_hash(test_content_hash(leaf, content_space).to_string());
        entry->set_kind(i % 2 == 0 ? pb::ENTRY_KIND_FILE : pb::ENTRY_KIND_DATASET_ROOT);
        entry->set_dataset_id("traffic/loop-" + std::to_string(leaf % 7));
        pb::MetadataField* field = entry->add_metadata();
        field->set_key("sensor");
        field->set_value("s" + std::to_string(leaf));
      }
      *block.add_txs() = proto::sign_transaction(body, key);
    }
    return wrap(store, std::move(block));
  }

  // `block` (its transactions) made the next block of `store`'s chain: the
  // header's height, time, previous hash, last commit, txs root and log head,
  // and a commit certificate.
  CommittedBlock wrap(const Store& store, pb::Block block) const {
    const ChainHead head = store.head();
    const std::uint64_t height = head.height + 1;
    CommittedBlock out;
    pb::BlockHeader& header = *block.mutable_header();
    header.set_chain_id(chain_id_);
    header.set_height(height);
    header.set_time_unix_ms(1'790'000'000'000 + height * 1000);
    header.set_previous_block_hash(height == 1 ? genesis_hash_.to_string() : head.block_hash.to_string());
    if (height > 1) {
      auto last_commit = store.get_commit(height - 1);
      CL_CHECK(last_commit.ok());
      *block.mutable_last_commit() = *last_commit;
      header.set_last_commit_hash(proto::hash_message(*last_commit).to_string());
    }
    header.set_txs_root(proto::txs_root(block.txs()).to_string());
    header.set_tx_count(static_cast<std::uint32_t>(block.txs_size()));
    // The header's time and height are part of every log entry: set them first.
    auto entries = derive_log_entries(block);
    CL_CHECK(entries.ok());
    std::vector<Hash32> leaves;
    for (const auto& entry : *entries) leaves.push_back(proto::log_leaf_hash(entry));
    const LogHead log = store.log_head_after(leaves);
    header.set_log_size(log.size);
    header.set_log_root(log.root.to_string());
    header.set_validator_set_hash(crypto::sha256(std::string_view("validators")).to_string());
    out.commit = commit_for(block);
    out.block = std::move(block);
    return out;
  }

  // A commit certificate for `block` signed by one test validator.
  pb::CommitCertificate commit_for(const pb::Block& block) const {
    pb::CommitCertificate commit;
    commit.set_height(block.header().height());
    commit.set_round(0);
    commit.set_block_id(proto::block_hash(block.header()).to_string());
    pb::Vote vote;
    vote.set_type(pb::VOTE_TYPE_PRECOMMIT);
    vote.set_height(commit.height());
    vote.set_round(0);
    vote.set_block_id(commit.block_id());
    vote.set_validator_index(0);
    proto::sign_vote(vote, chain_id_, crypto::SecretKey::from_seed_for_testing(1000));
    pb::CommitSignature* signature = commit.add_signatures();
    signature->set_validator_index(0);
    signature->set_signature(vote.signature());
    return commit;
  }

 private:
  std::string chain_id_;
  Hash32 genesis_hash_;
};

}  // namespace cityledger::ledger::testing
