#include "audit/log_entry.hpp"

#include "wire.hpp"

namespace cityledger::audit {

std::string entry_kind_name(std::uint64_t kind) {
  switch (kind) {
    case 1:
      return "file";
    case 2:
      return "dataset-root";
    case 3:
      return "record-set";
    case 4:
      return "contract-event";
    case 5:
      return "contract-registration";
    default:
      return "unknown";
  }
}

namespace {

using namespace wire;

Status decode_metadata_field(ByteSpan bytes, std::pair<std::string, std::string>& out) {
  Reader r(bytes);
  while (!r.done()) {
    auto t = r.tag();
    if (!t) return t.status();
    auto [field, wire] = *t;
    if (field == 1) {
      auto s = nonempty_string(r, wire, "metadata key");
      if (!s) return s.status();
      out.first = *s;
    } else if (field == 2) {
      auto s = nonempty_string(r, wire, "metadata value");
      if (!s) return s.status();
      out.second = *s;
    } else {
      return error(ErrorCode::invalid_argument, "unknown field in metadata");
    }
  }
  return {};
}

Status decode_anchor_entry(ByteSpan bytes, DecodedEntry& out) {
  Reader r(bytes);
  bool have_hash = false;
  while (!r.done()) {
    auto t = r.tag();
    if (!t) return t.status();
    auto [field, wire] = *t;
    if (field == 1) {
      CL_TRY(expect_wire(wire, 2, "content_hash"));
      auto b = r.bytes();
      if (!b) return b.status();
      auto h = hash32(*b, "content_hash");
      if (!h) return h.status();
      out.content_hash = *h;
      have_hash = true;
    } else if (field == 2) {
      auto v = nonzero_varint(r, wire, "kind");
      if (!v) return v.status();
      if (*v > 0x7fffffff) return error(ErrorCode::invalid_argument, "kind is out of range");
      out.kind = *v;
    } else if (field == 3) {
      auto s = nonempty_string(r, wire, "dataset_id");
      if (!s) return s.status();
      out.dataset_id = *s;
    } else if (field == 4) {
      // Metadata is the last field and may repeat: read all remaining items here.
      for (;;) {
        CL_TRY(expect_wire(wire, 2, "metadata"));
        auto b = r.bytes();
        if (!b) return b.status();
        std::pair<std::string, std::string> kv;
        CL_TRY(decode_metadata_field(*b, kv));
        out.metadata.push_back(std::move(kv));
        if (r.done()) break;
        auto next = r.varint();
        if (!next) return next.status();
        if ((*next >> 3) != 4) return error(ErrorCode::invalid_argument, "fields out of canonical order");
        wire = static_cast<std::uint32_t>(*next & 7);
      }
    } else {
      return error(ErrorCode::invalid_argument, "unknown field in anchor entry");
    }
  }
  if (!have_hash) return error(ErrorCode::invalid_argument, "anchor entry has no content hash");
  return {};
}

}  // namespace

Result<DecodedEntry> decode_log_entry(ByteSpan leaf) {
  DecodedEntry out;
  Reader r(leaf);
  bool have_entry = false;
  while (!r.done()) {
    auto t = r.tag();
    if (!t) return t.status();
    auto [field, wire] = *t;
    switch (field) {
      case 1: {
        CL_TRY(expect_wire(wire, 2, "entry"));
        auto b = r.bytes();
        if (!b) return b.status();
        CL_TRY(decode_anchor_entry(*b, out));
        have_entry = true;
        break;
      }
      case 2:
      case 3: {
        CL_TRY(expect_wire(wire, 2, field == 2 ? "submitter" : "tx_hash"));
        auto b = r.bytes();
        if (!b) return b.status();
        auto h = hash32(*b, field == 2 ? "submitter" : "tx_hash");
        if (!h) return h.status();
        (field == 2 ? out.submitter : out.tx_hash) = *h;
        break;
      }
      case 4:
      case 5:
      case 6: {
        const char* name = field == 4 ? "index_in_tx" : field == 5 ? "height" : "time_unix_ms";
        auto v = nonzero_varint(r, wire, name);
        if (!v) return v.status();
        if (field == 4 && *v > 0xffffffff)
          return error(ErrorCode::invalid_argument, "index_in_tx is out of range");
        (field == 4 ? out.index_in_tx : field == 5 ? out.height : out.time_unix_ms) = *v;
        break;
      }
      default:
        return error(ErrorCode::invalid_argument, "unknown field " + std::to_string(field) + " in log entry");
    }
  }
  if (!have_entry) return error(ErrorCode::invalid_argument, "log entry has no anchor entry");
  return out;
}

}  // namespace cityledger::audit
