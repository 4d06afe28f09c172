// P2P frames (docs/p2p.md): a 4-byte big-endian length, then that many bytes of
// one canonical pb::Envelope. Pure functions and a byte-fed decoder, no sockets,
// so every rule here is unit-tested and fuzzed (tests/fuzz/p2p_frame.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cityledger.pb.h"
#include "common/bytes.hpp"
#include "common/result.hpp"

namespace cityledger::node::p2p {

inline constexpr std::size_t frame_header_bytes = 4;
// Largest Envelope a peer may send us (and we may send), unless configured otherwise.
inline constexpr std::size_t max_frame_bytes_default = 16u << 20;

// Why a byte stream from a peer was refused. The name of each is the reason
// counted in the metrics and logged when the peer is disconnected.
enum class FrameError : std::uint8_t {
  none = 0,
  zero_length,    // an empty Envelope carries nothing: never valid
  oversized,      // length prefix above the configured maximum
  not_canonical,  // the body does not decode canonically as pb::Envelope (docs/encoding.md)
  no_payload,     // decodes, but no payload is set
};
inline constexpr std::size_t frame_error_count = 5;
const char* frame_error_name(FrameError error) noexcept;  // "decode_zero_length", ...

// The kind of an Envelope, for counters and logs.
enum class MessageKind : std::uint8_t {
  none = 0,  // no payload set
  hello,
  proposal,
  vote,
  tx,
  block_request,
  block_response,
  checkpoint_signature,
};
inline constexpr std::size_t message_kind_count = 8;
MessageKind kind_of(const pb::Envelope& envelope) noexcept;
const char* message_kind_name(MessageKind kind) noexcept;  // "hello", "vote", ...

// The 4-byte prefix and the canonical bytes of `envelope`. Refused (never
// truncated) when the body is empty or longer than max_frame_bytes.
Result<std::string> encode_frame(const pb::Envelope& envelope,
                                 std::size_t max_frame_bytes = max_frame_bytes_default);

// Incremental decoder for one connection: feed it bytes as they arrive, in
// pieces of any size, and it returns every complete Envelope. The first bad
// frame is final: the decoder stays failed and the connection must be closed.
// Memory is bounded by frame_header_bytes + max_frame_bytes: an oversized
// length is refused as soon as its 4 bytes arrive, before any body is buffered.
class FrameDecoder {
 public:
  explicit FrameDecoder(std::size_t max_frame_bytes = max_frame_bytes_default);

  // Appends the envelopes completed by `bytes` to `out`. On the first bad frame
  // returns invalid_argument with the details (error() tells which rule was
  // broken); envelopes decoded before it in the same call are still in `out`.
  Status feed(ByteSpan bytes, std::vector<pb::Envelope>& out);

  FrameError error() const noexcept { return error_; }
  bool failed() const noexcept { return error_ != FrameError::none; }
  // Bytes received but not yet part of a complete frame.
  std::size_t buffered_bytes() const noexcept { return buffer_.size() - consumed_; }
  std::size_t max_frame_bytes() const noexcept { return max_frame_bytes_; }

 private:
  Status fail(FrameError error, std::string message);

  std::size_t max_frame_bytes_;
  Bytes buffer_;
  std::size_t consumed_ = 0;  // bytes at the front of buffer_ already decoded
  FrameError error_ = FrameError::none;
};

}  // namespace cityledger::node::p2p
