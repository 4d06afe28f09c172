// What the explorer (docs/explorer.md) shows that the ledger does not answer
// cheaply: anchors per minute over the last hour, and each validator's last
// precommit in a commit certificate and its share of recent certificates.
//
// Bounded: one bucket per minute for the last hour (60) and one signer mask per
// height for the last `window_heights` heights. Filled at each commit; after a
// restart rebuilt from the newest stored blocks (rebuild_explorer_stats).
// Thread-safe: written on the consensus strand, read by RPC handlers.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <vector>

#include "cityledger.pb.h"
#include "ledger/store.hpp"
#include "node/chain_state.hpp"

namespace cityledger::node {

struct AnchorMinute {
  std::uint64_t minute_start_unix_ms = 0;
  std::uint64_t anchors = 0;  // log entries added by the blocks of this minute
  std::uint64_t blocks = 0;
};

struct ValidatorActivity {
  std::uint64_t last_signed_height = 0;  // 0: in no certificate of the window
  std::uint64_t last_signed_time_unix_ms = 0;
  std::uint64_t signed_in_window = 0;  // certificates among the last window_heights holding its precommit
};

class ExplorerStats {
 public:
  static constexpr std::uint64_t minute_ms = 60'000;
  static constexpr std::size_t minutes_kept = 60;
  static constexpr std::size_t window_heights = 100;

  // Block `height` (time from its header) added `anchors` log entries and was
  // committed by a certificate holding the precommits of `signers` (consensus
  // keys: validators are followed by key, across set changes). Heights must
  // arrive in ascending order.
  void record_block(std::uint64_t height, std::uint64_t time_unix_ms, std::uint64_t anchors,
                    const std::vector<crypto::PublicKey>& signers);

  // The 60 minutes ending with the minute of now_unix_ms, oldest first (empty
  // minutes included, with zeros).
  std::vector<AnchorMinute> anchors_per_minute(std::uint64_t now_unix_ms) const;
  // Every key seen in a certificate since start (or the rebuild).
  std::map<crypto::PublicKey, ValidatorActivity> validators() const;
  // How many heights the liveness window holds now (<= window_heights).
  std::size_t window_size() const;

 private:
  struct Signers {
    std::uint64_t height = 0;
    std::uint64_t time_unix_ms = 0;
    std::vector<crypto::PublicKey> signed_by;
  };

  mutable std::mutex mutex_;
  std::deque<AnchorMinute> minutes_;  // ascending minute, at most minutes_kept
  std::deque<Signers> window_;        // ascending height, at most window_heights
  std::map<crypto::PublicKey, ValidatorActivity> activity_;
  std::uint64_t last_height_ = 0;
};

// Replays the newest stored blocks into `stats`: those of the last hour before
// the head block's time, and at least the last window_heights, at most
// `blocks_max` blocks in all (so start-up stays fast on a busy chain; the chart
// then under-counts the oldest minutes).
// Signers are resolved through `chain`'s validator schedule (certificate_signers).
Status rebuild_explorer_stats(const ledger::Store& store, ExplorerStats& stats, const ChainState& chain,
                              std::uint64_t blocks_max = 10'000);

// The consensus keys of a certificate's signers: each signature's index in the
// set in charge of the certificate's height (docs/governance.md). Indexes out
// of that set are left out.
std::vector<crypto::PublicKey> certificate_signers(const pb::CommitCertificate& certificate,
                                                   const ChainState& chain);

}  // namespace cityledger::node
