// What happened in a simulation, one compact record per step. Records are kept
// in a bounded ring (printed when a seed fails) and, with --trace, printed as
// they happen. Formatting is deferred to printing so that keeping the ring
// costs almost nothing on the fast path. Every record also feeds a running
// digest, which is how the determinism check compares two runs of one seed.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace cityledger::sim {

enum class TraceKind : std::uint8_t {
  // Inputs fed to a core.
  start,
  proposal_in,
  vote_in,
  timeout_in,
  validated_in,
  built_in,
  persisted_in,
  applied_in,
  committed_block_in,
  // Outputs of a core.
  broadcast_out,
  timeout_out,
  validate_out,
  build_out,
  persist_out,
  commit_out,
  request_out,
  evidence_out,
  // The world around the cores.
  held,           // a broadcast waits for an earlier Persist to complete
  lost_on_crash,  // pending writes and held messages lost by a crash
  crash,
  restart,
  partition,
  heal,
  gst,
  liveness_start,
  fetch_served,
  fetch_retry,
  // Byzantine actions.
  byz_equivocate,
  byz_conflicting_vote,
  byz_bad_signature,
  byz_wrong_chain,
  byz_replay,
  byz_future_vote,
  failure,
};

struct TraceRecord {
  std::uint64_t time_ms = 0;
  std::uint64_t height = 0;
  std::int64_t extra = 0;  // pol_round, a duration, a count: depends on the kind
  std::uint32_t round = 0;
  std::uint32_t node = 0;
  std::uint32_t peer = 0;   // sender, recipient or validator index, depending on the kind
  std::uint32_t block = 0;  // first 4 bytes of a block id, 0 for nil or none
  TraceKind kind = TraceKind::start;
  std::uint8_t detail = 0;  // step, vote type or a flag, depending on the kind
};

class Trace {
 public:
  // Keeps the last `capacity` records; with `echo` prints each one to stdout.
  Trace(std::size_t capacity, bool echo);

  void add(const TraceRecord& record);
  // Prints the records still in the ring, oldest first.
  void dump(std::FILE* out) const;
  std::uint64_t digest() const { return digest_; }
  std::uint64_t count() const { return count_; }

  static std::string format(const TraceRecord& record);

 private:
  std::vector<TraceRecord> ring_;
  std::size_t next_ = 0;
  std::uint64_t count_ = 0;
  std::uint64_t digest_ = 0xcbf29ce484222325ULL;  // FNV-1a offset basis
  bool echo_ = false;
};

}  // namespace cityledger::sim
