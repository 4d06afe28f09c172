// The application side of consensus: building the block this validator
// proposes and checking the blocks others propose. Everything here is a
// function of committed state (store, chain state), the mempool and the block
// itself — plus the local clock for the proposer's timestamp and the bound on
// how far in the future a proposed time may be.
#pragma once

#include <cstdint>
#include <functional>

#include "audit/genesis.hpp"
#include "consensus/types.hpp"
#include "ledger/store.hpp"
#include "node/chain_state.hpp"
#include "node/mempool.hpp"

namespace cityledger::node {

// This node's configured limits. Once governance set block limits on chain,
// those replace max_txs and max_bytes for every node (effective_limits).
struct BlockLimits {
  std::size_t max_txs = 5'000;
  std::size_t max_bytes = 8u << 20;
  // A proposed block's time may be at most this far ahead of our clock.
  std::uint64_t max_clock_drift_ms = 30'000;
};

class Application {
 public:
  // The validator set of each height comes from `chain` (its schedule).
  Application(const audit::Genesis& genesis, ledger::Store& store, Mempool& mempool, ChainState& chain,
              BlockLimits limits);

  // The block to propose at `height` (the store's last height + 1).
  pb::Block build_block(std::uint64_t height, const pb::CommitCertificate& last_commit,
                        std::uint32_t proposer_index, std::uint64_t now_ms) const;

  // Every rule a committed block must satisfy, with the first one it breaks.
  Status validate_block(const pb::Block& block, std::uint64_t now_ms) const;

  // Durably applies a committed block (one synced RocksDB batch), then updates
  // account state and the mempool. Only after this returns is it "committed".
  // `admitted_ms`, when given, receives the mempool admission times of the
  // block's transactions this node held (for the commit latency metric);
  // `tx_hashes`, when given, the hashes of its transactions in block order.
  Status commit(const pb::Block& block, const pb::CommitCertificate& certificate,
                std::vector<std::uint64_t>* admitted_ms = nullptr, std::vector<Hash32>* tx_hashes = nullptr);

  // How validate_block spreads the signature checks of transactions this
  // node's mempool has not verified (a proposal carrying transactions not yet
  // gossiped here): calls work(i) for every i < n, possibly on several
  // threads, and returns when all are done. Unset: one after the other.
  using ParallelFor = std::function<void(std::size_t n, const std::function<void(std::size_t)>& work)>;
  void set_parallel_for(ParallelFor parallel_for) { parallel_for_ = std::move(parallel_for); }

  Hash32 previous_block_hash(std::uint64_t height) const;
  // The limits the next block is built and validated with.
  BlockLimits effective_limits() const;

 private:
  Status validate_transactions(const pb::Block& block) const;
  // The time of block height - 1 (0 before block 1): from the last commit
  // when that is the one, so a height does not decode the whole previous
  // block (megabytes at batch 100) to read one header field.
  Result<std::uint64_t> previous_block_time(std::uint64_t height) const;
  // Whether a proposal's last_commit holds; its signatures that are also in
  // the certificate this node committed height - 1 with are not verified again.
  bool last_commit_holds(const pb::Block& block) const;

  const audit::Genesis& genesis_;
  ledger::Store& store_;
  Mempool& mempool_;
  ChainState& chain_;
  BlockLimits limits_;
  consensus::Bip340Verifier verifier_;
  ParallelFor parallel_for_;
  // The last block committed through commit() (consensus strand only).
  std::uint64_t last_height_ = 0;
  std::uint64_t last_time_ms_ = 0;
  pb::CommitCertificate last_certificate_;
};

}  // namespace cityledger::node
