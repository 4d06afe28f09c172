#include "trace.hpp"

#include <cinttypes>

#include "common/check.hpp"

namespace cityledger::sim {

namespace {

void mix(std::uint64_t& digest, std::uint64_t value) {
  for (int i = 0; i < 8; ++i) {
    digest ^= (value >> (8 * i)) & 0xff;
    digest *= 0x100000001b3ULL;  // FNV-1a prime
  }
}

const char* step_text(std::uint8_t step) {
  switch (step) {
    case 1:
      return "propose";
    case 2:
      return "prevote";
    case 3:
      return "precommit";
    default:
      return "?";
  }
}

const char* vote_text(std::uint8_t type) {
  switch (type) {
    case 1:
      return "prevote";
    case 2:
      return "precommit";
    default:
      return "vote?";
  }
}

std::string block_text(std::uint32_t block) {
  if (block == 0) return "nil";
  char out[16];
  std::snprintf(out, sizeof out, "%08x", block);
  return out;
}

}  // namespace

Trace::Trace(std::size_t capacity, bool echo) : echo_(echo) {
  CL_CHECK(capacity > 0);
  ring_.resize(capacity);
}

void Trace::add(const TraceRecord& record) {
  ring_[next_] = record;
  next_ = (next_ + 1) % ring_.size();
  ++count_;
  mix(digest_, record.time_ms);
  mix(digest_, record.height);
  mix(digest_, static_cast<std::uint64_t>(record.extra));
  mix(digest_, (std::uint64_t{record.round} << 32) | record.node);
  mix(digest_, (std::uint64_t{record.peer} << 32) | record.block);
  mix(digest_, (std::uint64_t{static_cast<std::uint8_t>(record.kind)} << 8) | record.detail);
  if (echo_) std::printf("%s\n", format(record).c_str());
}

void Trace::dump(std::FILE* out) const {
  const std::size_t kept = count_ < ring_.size() ? static_cast<std::size_t>(count_) : ring_.size();
  const std::size_t first = (next_ + ring_.size() - kept) % ring_.size();
  std::fprintf(out, "---- last %zu of %" PRIu64 " trace records\n", kept, count_);
  for (std::size_t i = 0; i < kept; ++i) {
    std::fprintf(out, "%s\n", format(ring_[(first + i) % ring_.size()]).c_str());
  }
  std::fprintf(out, "---- end of trace\n");
}

std::string Trace::format(const TraceRecord& r) {
  char head[48];
  std::snprintf(head, sizeof head, "%7" PRIu64 ".%03" PRIu64 "s n%u ", r.time_ms / 1000, r.time_ms % 1000,
                r.node);
  char body[200];
  const std::string block = block_text(r.block);
  const auto h = r.height;
  switch (r.kind) {
    case TraceKind::start:
      std::snprintf(body, sizeof body, "<- Start at h=%" PRIu64, h);
      break;
    case TraceKind::proposal_in:
      std::snprintf(body, sizeof body, "<- n%u proposal h=%" PRIu64 " r=%u pol=%" PRId64 " block=%s", r.peer,
                    h, r.round, r.extra, block.c_str());
      break;
    case TraceKind::vote_in:
      std::snprintf(body, sizeof body, "<- n%u %s h=%" PRIu64 " r=%u by v%" PRId64 " block=%s", r.peer,
                    vote_text(r.detail), h, r.round, r.extra, block.c_str());
      break;
    case TraceKind::timeout_in:
      std::snprintf(body, sizeof body, "<- timeout %s h=%" PRIu64 " r=%u", step_text(r.detail), h, r.round);
      break;
    case TraceKind::validated_in:
      std::snprintf(body, sizeof body, "<- validated h=%" PRIu64 " block=%s %s", h, block.c_str(),
                    r.detail ? "valid" : "INVALID");
      break;
    case TraceKind::built_in:
      std::snprintf(body, sizeof body, "<- built h=%" PRIu64 " r=%u block=%s txs=%" PRId64, h, r.round,
                    block.c_str(), r.extra);
      break;
    case TraceKind::persisted_in:
      std::snprintf(body, sizeof body, "<- persisted h=%" PRIu64 " r=%u %s block=%s locked_round=%" PRId64, h,
                    r.round, step_text(r.detail), block.c_str(), r.extra);
      break;
    case TraceKind::applied_in:
      std::snprintf(body, sizeof body, "<- commit applied h=%" PRIu64 " block=%s", h, block.c_str());
      break;
    case TraceKind::committed_block_in:
      std::snprintf(body, sizeof body, "<- n%u committed block h=%" PRIu64 " r=%u block=%s (catch-up)",
                    r.peer, h, r.round, block.c_str());
      break;
    case TraceKind::broadcast_out:
      if (r.detail == 0) {
        std::snprintf(body, sizeof body, "-> broadcast proposal h=%" PRIu64 " r=%u pol=%" PRId64 " block=%s",
                      h, r.round, r.extra, block.c_str());
      } else {
        std::snprintf(body, sizeof body, "-> broadcast %s h=%" PRIu64 " r=%u by v%" PRId64 " block=%s",
                      vote_text(r.detail), h, r.round, r.extra, block.c_str());
      }
      break;
    case TraceKind::timeout_out:
      std::snprintf(body, sizeof body, "-> schedule timeout %s h=%" PRIu64 " r=%u in %" PRId64 "ms",
                    step_text(r.detail), h, r.round, r.extra);
      break;
    case TraceKind::validate_out:
      std::snprintf(body, sizeof body, "-> validate h=%" PRIu64 " block=%s", h, block.c_str());
      break;
    case TraceKind::build_out:
      std::snprintf(body, sizeof body, "-> build h=%" PRIu64 " r=%u", h, r.round);
      break;
    case TraceKind::persist_out:
      std::snprintf(body, sizeof body, "-> persist h=%" PRIu64 " r=%u %s block=%s locked_round=%" PRId64, h,
                    r.round, step_text(r.detail), block.c_str(), r.extra);
      break;
    case TraceKind::commit_out:
      std::snprintf(body, sizeof body, "-> COMMIT h=%" PRIu64 " r=%u block=%s signers=%" PRId64, h, r.round,
                    block.c_str(), r.extra);
      break;
    case TraceKind::request_out:
      std::snprintf(body, sizeof body, "-> request committed block h=%" PRIu64, h);
      break;
    case TraceKind::evidence_out:
      std::snprintf(body, sizeof body, "-> evidence against v%u h=%" PRIu64 " r=%u %s", r.peer, h, r.round,
                    vote_text(r.detail));
      break;
    case TraceKind::held:
      std::snprintf(body, sizeof body, "   holds a broadcast until %" PRId64 " pending write(s) complete",
                    r.extra);
      break;
    case TraceKind::lost_on_crash:
      std::snprintf(body, sizeof body, "   crash loses %" PRId64 " pending write(s)%s", r.extra,
                    r.detail ? " and an unapplied commit" : "");
      break;
    case TraceKind::crash:
      std::snprintf(body, sizeof body, "** CRASH (restart in %" PRId64 "ms)", r.extra);
      break;
    case TraceKind::restart:
      std::snprintf(body, sizeof body, "** RESTART at h=%" PRIu64 " restored=%s", h,
                    r.detail ? "sign state" : "nothing");
      break;
    case TraceKind::partition:
      std::snprintf(body, sizeof body, "** PARTITION side mask 0x%" PRIx64 " until %" PRIu64 "ms", r.extra,
                    h);
      break;
    case TraceKind::heal:
      std::snprintf(body, sizeof body, "** partition healed (mask 0x%" PRIx64 ")", r.extra);
      break;
    case TraceKind::gst:
      std::snprintf(body, sizeof body, "** GST: the network is synchronous and lossless from now on");
      break;
    case TraceKind::liveness_start:
      std::snprintf(body, sizeof body,
                    "** liveness clock starts: every honest node must reach h=%" PRIu64 " within %" PRId64
                    "ms",
                    h, r.extra);
      break;
    case TraceKind::fetch_served:
      std::snprintf(body, sizeof body, "   committed block h=%" PRIu64 " on its way from n%u", h, r.peer);
      break;
    case TraceKind::fetch_retry:
      std::snprintf(body, sizeof body,
                    "   fetch of committed block h=%" PRIu64 " retries (attempt %" PRId64 ")", h, r.extra);
      break;
    case TraceKind::byz_equivocate:
      std::snprintf(body, sizeof body, "!! equivocates at h=%" PRIu64 " r=%u: second block=%s", h, r.round,
                    block.c_str());
      break;
    case TraceKind::byz_conflicting_vote:
      std::snprintf(body, sizeof body, "!! conflicting %s h=%" PRIu64 " r=%u block=%s to n%u",
                    vote_text(r.detail), h, r.round, block.c_str(), r.peer);
      break;
    case TraceKind::byz_bad_signature:
      std::snprintf(body, sizeof body, "!! bad signature (claims v%u) h=%" PRIu64 " r=%u", r.peer, h,
                    r.round);
      break;
    case TraceKind::byz_wrong_chain:
      std::snprintf(body, sizeof body, "!! %s signed for another chain h=%" PRIu64 " r=%u",
                    vote_text(r.detail), h, r.round);
      break;
    case TraceKind::byz_replay:
      std::snprintf(body, sizeof body, "!! replays an old message h=%" PRIu64 " r=%u to n%u", h, r.round,
                    r.peer);
      break;
    case TraceKind::byz_future_vote:
      std::snprintf(body, sizeof body, "!! %s for far-future h=%" PRIu64, vote_text(r.detail), h);
      break;
    case TraceKind::failure:
      std::snprintf(body, sizeof body, "XX invariant violated (see the message below)");
      break;
  }
  return std::string(head) + body;
}

}  // namespace cityledger::sim
