// The canonical Protobuf wire reading shared by the audit readers (LogEntry,
// GovernanceProposal): written against the wire format, not the Protobuf
// library. Internal to audit/.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "common/bytes.hpp"
#include "common/result.hpp"

namespace cityledger::audit::wire {

// A cursor over canonical Protobuf wire bytes.
class Reader {
 public:
  explicit Reader(ByteSpan data) : data_(data) {}
  bool done() const { return pos_ == data_.size(); }

  Result<std::uint64_t> varint() {
    std::uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= data_.size()) return error(ErrorCode::invalid_argument, "truncated varint");
      const std::uint8_t byte = data_[pos_++];
      // The tenth byte holds only bit 63: anything more is a value above
      // 2^64 - 1, which Protobuf would truncate and re-encode differently.
      if (shift == 63 && byte > 1) return error(ErrorCode::invalid_argument, "varint longer than 64 bits");
      value |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) {
        if (byte == 0 && shift > 0) return error(ErrorCode::invalid_argument, "non-minimal varint");
        return value;
      }
    }
    return error(ErrorCode::invalid_argument, "varint longer than 64 bits");
  }

  Result<ByteSpan> bytes() {
    auto size = varint();
    if (!size) return size.status();
    if (*size > data_.size() - pos_)
      return error(ErrorCode::invalid_argument, "truncated length-delimited field");
    ByteSpan out = data_.subspan(pos_, *size);
    pos_ += *size;
    return out;
  }

  // Next field number and wire type; enforces ascending field order.
  Result<std::pair<std::uint32_t, std::uint32_t>> tag() {
    auto t = varint();
    if (!t) return t.status();
    // Protobuf's field numbers end at 2^29 - 1; a larger one must not be
    // truncated into a known field (2^32 + 1 would read as field 1).
    if ((*t >> 3) > 0x1fffffff) return error(ErrorCode::invalid_argument, "field number above 2^29 - 1");
    const auto field = static_cast<std::uint32_t>(*t >> 3);
    const auto wire = static_cast<std::uint32_t>(*t & 7);
    if (field <= last_field_) return error(ErrorCode::invalid_argument, "fields out of canonical order");
    last_field_ = field;
    return std::make_pair(field, wire);
  }

 private:
  ByteSpan data_;
  std::size_t pos_ = 0;
  std::uint32_t last_field_ = 0;
};

inline Status expect_wire(std::uint32_t wire, std::uint32_t expected, const char* name) {
  if (wire != expected) return error(ErrorCode::invalid_argument, std::string("wrong wire type for ") + name);
  return {};
}

inline Result<Hash32> hash32(ByteSpan b, const char* name) {
  if (b.size() != 32) return error(ErrorCode::invalid_argument, std::string(name) + " must be 32 bytes");
  return Hash32::from_span(b);
}

inline Result<std::uint64_t> nonzero_varint(Reader& r, std::uint32_t wire, const char* name) {
  CL_TRY(expect_wire(wire, 0, name));
  auto v = r.varint();
  if (!v) return v.status();
  if (*v == 0) return error(ErrorCode::invalid_argument, std::string(name) + ": default value written");
  return v;
}

// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above
// U+10FFFF. Protobuf's string fields are UTF-8; the reader agrees with it.
inline bool valid_utf8(ByteSpan s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const std::uint8_t c = s[i];
    std::size_t extra = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      extra = 1;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      extra = 2;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      extra = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + extra >= s.size()) return false;
    for (std::size_t k = 1; k <= extra; ++k) {
      if ((s[i + k] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (s[i + k] & 0x3f);
    }
    static constexpr std::uint32_t min_for_length[] = {0, 0x80, 0x800, 0x10000};
    if (cp < min_for_length[extra] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += extra + 1;
  }
  return true;
}

inline Result<std::string> nonempty_string(Reader& r, std::uint32_t wire, const char* name) {
  CL_TRY(expect_wire(wire, 2, name));
  auto b = r.bytes();
  if (!b) return b.status();
  if (b->empty()) return error(ErrorCode::invalid_argument, std::string(name) + ": default value written");
  if (!valid_utf8(*b)) return error(ErrorCode::invalid_argument, std::string(name) + " is not valid UTF-8");
  return std::string(reinterpret_cast<const char*>(b->data()), b->size());
}

}  // namespace cityledger::audit::wire
