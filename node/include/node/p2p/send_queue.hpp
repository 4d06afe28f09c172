// A peer's bounded send queue (docs/p2p.md). Bounded in messages and in bytes;
// when a new message does not fit, the oldest queued messages are dropped to
// make room: a consensus peer wants the newest votes and proposals, and a slow
// peer must never make the sender wait or grow its memory.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>

#include "node/p2p/frame.hpp"

namespace cityledger::node::p2p {

// One encoded frame waiting to be written. Frames are shared: a broadcast
// encodes once and queues the same bytes for every peer.
struct OutgoingFrame {
  std::shared_ptr<const std::string> frame;
  MessageKind kind = MessageKind::none;
  std::size_t size_bytes() const { return frame ? frame->size() : 0; }
};

class SendQueue {
 public:
  SendQueue(std::size_t max_messages, std::size_t max_bytes);

  struct PushResult {
    bool accepted = false;    // false only when the frame alone is larger than max_bytes
    std::size_t dropped = 0;  // older frames dropped to make room
  };
  // Never blocks and never exceeds the bounds.
  PushResult push(OutgoingFrame frame);
  std::optional<OutgoingFrame> pop();
  // Size of the frame pop() would return next; 0 when empty.
  std::size_t front_bytes() const { return frames_.empty() ? 0 : frames_.front().size_bytes(); }
  // Empties the queue; returns how many frames were discarded.
  std::size_t clear();

  std::size_t size() const { return frames_.size(); }
  std::size_t bytes() const { return bytes_; }
  bool empty() const { return frames_.empty(); }
  std::size_t max_messages() const { return max_messages_; }
  std::size_t max_bytes() const { return max_bytes_; }

 private:
  std::size_t max_messages_;
  std::size_t max_bytes_;
  std::deque<OutgoingFrame> frames_;
  std::size_t bytes_ = 0;
};

// Reconnect delays: start at `initial`, double after each failure up to `max`,
// each delay drawn uniformly from [d/2, d] so peers that lost each other at the
// same moment do not redial in lockstep.
class Backoff {
 public:
  Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max, std::uint64_t seed);
  std::chrono::milliseconds next();
  void reset() { current_ = initial_; }
  std::chrono::milliseconds current() const { return current_; }

 private:
  std::chrono::milliseconds initial_;
  std::chrono::milliseconds max_;
  std::chrono::milliseconds current_;
  std::uint64_t state_;
};

}  // namespace cityledger::node::p2p
