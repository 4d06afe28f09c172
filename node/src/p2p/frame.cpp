#include "node/p2p/frame.hpp"

#include <algorithm>

#include "proto/codec.hpp"

namespace cityledger::node::p2p {

namespace {

// Compact the buffer only when the decoded prefix is large, so a stream of
// small frames does not move bytes on every call.
constexpr std::size_t compact_threshold_bytes = 64u << 10;

std::uint32_t read_be32(const std::uint8_t* p) {
  return (static_cast<std::uint32_t>(p[0]) << 24) | (static_cast<std::uint32_t>(p[1]) << 16) |
         (static_cast<std::uint32_t>(p[2]) << 8) | static_cast<std::uint32_t>(p[3]);
}

}  // namespace

const char* frame_error_name(FrameError error) noexcept {
  switch (error) {
    case FrameError::none:
      return "none";
    case FrameError::zero_length:
      return "decode_zero_length";
    case FrameError::oversized:
      return "decode_oversized";
    case FrameError::not_canonical:
      return "decode_not_canonical";
    case FrameError::no_payload:
      return "decode_no_payload";
  }
  return "unknown";
}

MessageKind kind_of(const pb::Envelope& envelope) noexcept {
  switch (envelope.payload_case()) {
    case pb::Envelope::kHello:
      return MessageKind::hello;
    case pb::Envelope::kProposal:
      return MessageKind::proposal;
    case pb::Envelope::kVote:
      return MessageKind::vote;
    case pb::Envelope::kTx:
      return MessageKind::tx;
    case pb::Envelope::kBlockRequest:
      return MessageKind::block_request;
    case pb::Envelope::kBlockResponse:
      return MessageKind::block_response;
    case pb::Envelope::kCheckpointSignature:
      return MessageKind::checkpoint_signature;
    case pb::Envelope::PAYLOAD_NOT_SET:
      return MessageKind::none;
  }
  return MessageKind::none;
}

const char* message_kind_name(MessageKind kind) noexcept {
  switch (kind) {
    case MessageKind::none:
      return "none";
    case MessageKind::hello:
      return "hello";
    case MessageKind::proposal:
      return "proposal";
    case MessageKind::vote:
      return "vote";
    case MessageKind::tx:
      return "tx";
    case MessageKind::block_request:
      return "block_request";
    case MessageKind::block_response:
      return "block_response";
    case MessageKind::checkpoint_signature:
      return "checkpoint_signature";
  }
  return "unknown";
}

Result<std::string> encode_frame(const pb::Envelope& envelope, std::size_t max_frame_bytes) {
  if (kind_of(envelope) == MessageKind::none)
    return error(ErrorCode::invalid_argument, "envelope has no payload");
  const std::string body = proto::encode(envelope);
  // A set oneof always encodes to at least its tag and length.
  CL_CHECK(!body.empty());
  if (body.size() > max_frame_bytes || body.size() > UINT32_MAX) {
    return error(ErrorCode::invalid_argument, "envelope of " + std::to_string(body.size()) +
                                                  " bytes exceeds the frame limit of " +
                                                  std::to_string(max_frame_bytes));
  }
  const auto size = static_cast<std::uint32_t>(body.size());
  std::string frame;
  frame.reserve(frame_header_bytes + body.size());
  frame.push_back(static_cast<char>(size >> 24));
  frame.push_back(static_cast<char>(size >> 16));
  frame.push_back(static_cast<char>(size >> 8));
  frame.push_back(static_cast<char>(size));
  frame.append(body);
  return frame;
}

FrameDecoder::FrameDecoder(std::size_t max_frame_bytes) : max_frame_bytes_(max_frame_bytes) {
  CL_CHECK(max_frame_bytes > 0 && max_frame_bytes <= UINT32_MAX);
}

Status FrameDecoder::fail(FrameError error, std::string message) {
  error_ = error;
  buffer_.clear();
  buffer_.shrink_to_fit();
  consumed_ = 0;
  return cityledger::error(ErrorCode::invalid_argument, std::move(message));
}

Status FrameDecoder::feed(ByteSpan bytes, std::vector<pb::Envelope>& out) {
  if (failed())
    return cityledger::error(ErrorCode::invalid_argument,
                             std::string(frame_error_name(error_)) + ": decoder already failed");
  buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
  // Each iteration consumes one whole frame or stops, so the loop is bounded by
  // the number of frames in the buffer.
  while (buffer_.size() - consumed_ >= frame_header_bytes) {
    const std::uint8_t* header = buffer_.data() + consumed_;
    const std::uint32_t length = read_be32(header);
    if (length == 0) return fail(FrameError::zero_length, "zero-length frame");
    if (length > max_frame_bytes_) {
      return fail(FrameError::oversized, "frame of " + std::to_string(length) +
                                             " bytes exceeds the limit of " +
                                             std::to_string(max_frame_bytes_));
    }
    if (buffer_.size() - consumed_ - frame_header_bytes < length) break;  // wait for the rest
    const ByteSpan body{header + frame_header_bytes, length};
    pb::Envelope envelope;
    Status status = proto::decode_into(body, envelope, max_frame_bytes_);
    if (!status.ok()) return fail(FrameError::not_canonical, status.message());
    if (kind_of(envelope) == MessageKind::none)
      return fail(FrameError::no_payload, "envelope has no payload");
    out.push_back(std::move(envelope));
    consumed_ += frame_header_bytes + length;
  }
  if (consumed_ == buffer_.size()) {
    buffer_.clear();
    consumed_ = 0;
  } else if (consumed_ >= compact_threshold_bytes) {
    buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(consumed_));
    consumed_ = 0;
  }
  // Post-condition: at most one incomplete frame stays buffered.
  CL_CHECK(buffered_bytes() < frame_header_bytes + max_frame_bytes_);
  return Status::ok_status();
}

}  // namespace cityledger::node::p2p
