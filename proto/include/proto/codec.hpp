// Canonical encoding of Protobuf messages (docs/encoding.md).
//
// encode() serializes deterministically. decode() accepts bytes from outside
// (a peer, a client, a file, the store) only when they parse, hold no unknown
// fields at any depth, and re-encode to exactly the same bytes. So every
// accepted message has one byte form, and hashes and signatures over it are
// well defined.
#pragma once

#include <google/protobuf/message.h>

#include <cstddef>
#include <string>

#include "common/bytes.hpp"
#include "common/result.hpp"

namespace cityledger::proto {

// Largest message we ever decode unless a caller asks for less: bounds the
// memory a hostile sender can make us allocate.
inline constexpr std::size_t max_message_bytes_default = 16u << 20;

std::string encode(const google::protobuf::Message& message);
// Appends encode(message) to `out`: a caller that encodes many messages can
// reuse one buffer (and put bytes of its own before them).
void encode_append(const google::protobuf::Message& message, std::string& out);
Bytes encode_bytes(const google::protobuf::Message& message);

// Fills `out` from `bytes` or says precisely why not.
Status decode_into(ByteSpan bytes, google::protobuf::Message& out,
                   std::size_t max_size_bytes = max_message_bytes_default);

template <typename M>
Result<M> decode(ByteSpan bytes, std::size_t max_size_bytes = max_message_bytes_default) {
  M message;
  Status status = decode_into(bytes, message, max_size_bytes);
  if (!status.ok()) return status;
  return message;
}

template <typename M>
Result<M> decode(std::string_view bytes, std::size_t max_size_bytes = max_message_bytes_default) {
  return decode<M>(as_bytes(bytes), max_size_bytes);
}

// True when the message or any message inside it carries unknown fields.
bool has_unknown_fields(const google::protobuf::Message& message);

}  // namespace cityledger::proto
