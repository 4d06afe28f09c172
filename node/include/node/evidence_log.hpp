// Equivocation evidence an honest node has seen: the newest records, and how
// many since the process started.
//
// Bounded on purpose: a Byzantine validator can equivocate on every vote it
// sends, and each pair is new evidence, so keeping every record would let it
// grow an honest node's memory (and the cost of each get_evidence call)
// without end. The consensus core bounds its own copy the same way
// (limits::evidence_max).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

#include "cityledger.pb.h"
#include "common/check.hpp"

namespace cityledger::node {

class EvidenceLog {
 public:
  static constexpr std::size_t kept_max_default = 1024;

  explicit EvidenceLog(std::size_t kept_max = kept_max_default) : kept_max_(kept_max) {
    CL_CHECK(kept_max > 0);
  }

  void add(pb::DuplicateVoteEvidence evidence) {
    if (kept_.size() >= kept_max_) kept_.pop_front();
    kept_.push_back(std::move(evidence));
    ++total_;
    CL_CHECK(kept_.size() <= kept_max_);
  }

  // Every record added since start, including those no longer kept.
  std::uint64_t total() const { return total_; }
  std::size_t kept() const { return kept_.size(); }

  // The newest `max` records kept, oldest first.
  std::vector<pb::DuplicateVoteEvidence> newest(std::size_t max) const {
    const std::size_t count = std::min(max, kept_.size());
    return {kept_.end() - static_cast<std::ptrdiff_t>(count), kept_.end()};
  }

 private:
  std::size_t kept_max_;
  std::deque<pb::DuplicateVoteEvidence> kept_;
  std::uint64_t total_ = 0;
};

}  // namespace cityledger::node
