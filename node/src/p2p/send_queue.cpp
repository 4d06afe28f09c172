#include "node/p2p/send_queue.hpp"

#include <algorithm>

namespace cityledger::node::p2p {

SendQueue::SendQueue(std::size_t max_messages, std::size_t max_bytes)
    : max_messages_(max_messages), max_bytes_(max_bytes) {
  CL_CHECK(max_messages > 0 && max_bytes > 0);
}

SendQueue::PushResult SendQueue::push(OutgoingFrame frame) {
  PushResult result;
  const std::size_t size = frame.size_bytes();
  if (size > max_bytes_) return result;
  // Bounded: each iteration removes one frame.
  while (!frames_.empty() && (frames_.size() + 1 > max_messages_ || bytes_ + size > max_bytes_)) {
    bytes_ -= frames_.front().size_bytes();
    frames_.pop_front();
    ++result.dropped;
  }
  bytes_ += size;
  frames_.push_back(std::move(frame));
  result.accepted = true;
  CL_CHECK(frames_.size() <= max_messages_ && bytes_ <= max_bytes_);
  return result;
}

std::optional<OutgoingFrame> SendQueue::pop() {
  if (frames_.empty()) return std::nullopt;
  OutgoingFrame frame = std::move(frames_.front());
  frames_.pop_front();
  bytes_ -= frame.size_bytes();
  return frame;
}

std::size_t SendQueue::clear() {
  const std::size_t count = frames_.size();
  frames_.clear();
  bytes_ = 0;
  return count;
}

Backoff::Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max, std::uint64_t seed)
    : initial_(initial), max_(std::max(initial, max)), current_(initial), state_(seed | 1) {
  CL_CHECK(initial.count() > 0);
}

std::chrono::milliseconds Backoff::next() {
  // xorshift64: jitter needs no cryptographic quality, only spread.
  state_ ^= state_ << 13;
  state_ ^= state_ >> 7;
  state_ ^= state_ << 17;
  const auto d = current_.count();
  const auto half = d / 2;
  const auto delay =
      std::chrono::milliseconds(half + static_cast<long>(state_ % static_cast<std::uint64_t>(d - half + 1)));
  current_ = std::min(max_, current_ * 2);
  return delay;
}

}  // namespace cityledger::node::p2p
