#include "node/explorer_stats.hpp"

#include <algorithm>

#include "common/check.hpp"

namespace cityledger::node {

void ExplorerStats::record_block(std::uint64_t height, std::uint64_t time_unix_ms, std::uint64_t anchors,
                                 const std::vector<crypto::PublicKey>& signers) {
  std::lock_guard lock(mutex_);
  if (height <= last_height_) return;  // replayed twice (rebuild racing a commit): count once
  last_height_ = height;

  const std::uint64_t minute = time_unix_ms / minute_ms * minute_ms;
  if (minutes_.empty() || minutes_.back().minute_start_unix_ms < minute) {
    minutes_.push_back({minute, 0, 0});
  }
  // Block times only grow (the ledger checks it), so the newest bucket is ours
  // unless the clock went back, which we count in the newest bucket.
  minutes_.back().anchors += anchors;
  minutes_.back().blocks += 1;
  while (!minutes_.empty() && minutes_.front().minute_start_unix_ms + minutes_kept * minute_ms <= minute) {
    minutes_.pop_front();
  }

  Signers s{height, time_unix_ms, signers};
  for (const auto& key : signers) {
    auto& a = activity_[key];
    a.last_signed_height = height;
    a.last_signed_time_unix_ms = time_unix_ms;
  }
  window_.push_back(std::move(s));
  while (window_.size() > window_heights) window_.pop_front();
}

std::vector<AnchorMinute> ExplorerStats::anchors_per_minute(std::uint64_t now_unix_ms) const {
  const std::uint64_t last = now_unix_ms / minute_ms * minute_ms;
  const std::uint64_t first = last - (minutes_kept - 1) * minute_ms;
  std::vector<AnchorMinute> out;
  out.reserve(minutes_kept);
  for (std::size_t i = 0; i < minutes_kept; ++i) out.push_back({first + i * minute_ms, 0, 0});
  std::lock_guard lock(mutex_);
  for (const auto& m : minutes_) {
    if (m.minute_start_unix_ms < first || m.minute_start_unix_ms > last) continue;
    out[(m.minute_start_unix_ms - first) / minute_ms] = m;
  }
  return out;
}

std::map<crypto::PublicKey, ValidatorActivity> ExplorerStats::validators() const {
  std::lock_guard lock(mutex_);
  auto out = activity_;
  for (auto& [key, a] : out) a.signed_in_window = 0;
  for (const auto& s : window_) {
    for (const auto& key : s.signed_by) ++out[key].signed_in_window;
  }
  return out;
}

std::size_t ExplorerStats::window_size() const {
  std::lock_guard lock(mutex_);
  return window_.size();
}

std::vector<crypto::PublicKey> certificate_signers(const pb::CommitCertificate& certificate,
                                                   const ChainState& chain) {
  std::vector<crypto::PublicKey> out;
  if (certificate.signatures().empty() || certificate.height() == 0) return out;
  const consensus::ValidatorSet set = chain.validator_set_at(certificate.height());
  for (const auto& sig : certificate.signatures()) {
    if (sig.validator_index() < set.size()) out.push_back(set.key(sig.validator_index()));
  }
  return out;
}

Status rebuild_explorer_stats(const ledger::Store& store, ExplorerStats& stats, const ChainState& chain,
                              std::uint64_t blocks_max) {
  struct Header {
    std::uint64_t height, time_unix_ms, log_size;
  };
  const std::uint64_t last = store.last_height();
  if (last == 0) return {};
  std::vector<Header> headers;  // newest first
  std::uint64_t head_time = 0;
  for (std::uint64_t h = last; h >= 1 && headers.size() < blocks_max; --h) {
    auto block = store.get_block(h);
    if (!block) return block.status();
    const auto& header = block->header();
    if (h == last) head_time = header.time_unix_ms();
    const bool in_hour =
        header.time_unix_ms() + ExplorerStats::minutes_kept * ExplorerStats::minute_ms > head_time;
    if (!in_hour && headers.size() >= ExplorerStats::window_heights) break;
    headers.push_back({h, header.time_unix_ms(), header.log_size()});
  }
  std::uint64_t previous_size = 0;
  if (const std::uint64_t before = headers.back().height - 1; before >= 1) {
    auto block = store.get_block(before);
    if (!block) return block.status();
    previous_size = block->header().log_size();
  }
  for (auto it = headers.rbegin(); it != headers.rend(); ++it) {
    pb::CommitCertificate certificate;
    if (it->height + ExplorerStats::window_heights > last) {
      auto commit = store.get_commit(it->height);
      if (!commit) return commit.status();
      certificate = std::move(*commit);
    }
    stats.record_block(it->height, it->time_unix_ms, it->log_size - std::min(previous_size, it->log_size),
                       certificate_signers(certificate, chain));
    previous_size = it->log_size;
  }
  return {};
}

}  // namespace cityledger::node
