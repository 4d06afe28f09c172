#include "node/sign_guard.hpp"

#include <spdlog/spdlog.h>

#include <tuple>

#include "crypto/sha256.hpp"
#include "node/durable_file.hpp"
#include "proto/codec.hpp"

namespace cityledger::node {

namespace {
constexpr std::string_view legacy_magic = "CLSIGN1\n";

auto position(const pb::SignState& s) { return std::make_tuple(s.height(), s.round(), s.step()); }

// The format before record files (see the header).
Result<std::optional<pb::SignState>> load_legacy(const std::filesystem::path& path) {
  auto content = read_file_if_exists(path);
  if (!content) return content.status();
  if (!content->has_value()) return std::optional<pb::SignState>{};
  const std::string& text = **content;
  if (text.size() < legacy_magic.size() + 32 || text.compare(0, legacy_magic.size(), legacy_magic) != 0) {
    return error(ErrorCode::corruption, path.string() + " is not a sign-state file (bad header)");
  }
  const std::string_view checksum(text.data() + legacy_magic.size(), 32);
  const std::string_view payload(text.data() + legacy_magic.size() + 32,
                                 text.size() - legacy_magic.size() - 32);
  if (crypto::sha256(payload).to_string() != checksum) {
    return error(ErrorCode::corruption, path.string() +
                                            ": checksum mismatch; the double-sign guard cannot be trusted, "
                                            "refusing to sign (restore the file or see docs/operations.md)");
  }
  auto state = proto::decode<pb::SignState>(payload);
  if (!state) return error(ErrorCode::corruption, path.string() + ": " + state.status().message());
  return std::optional<pb::SignState>(std::move(state).value());
}

Record record_of(std::uint64_t sequence, const std::optional<pb::SignState>& state) {
  return Record{sequence, state ? proto::encode(*state) : std::string()};
}
}  // namespace

std::filesystem::path SignStateFile::slot_path(int slot) const {
  return path_.string() + (slot == 0 ? ".a" : ".b");
}

Result<SignStateFile::Stored> SignStateFile::read_stored() const {
  Stored out;
  std::optional<Record> best;
  std::string damage;
  for (int slot = 0; slot < 2; ++slot) {
    auto record = RecordFile::read(slot_path(slot));
    if (!record && record.status().code() != ErrorCode::corruption) return record.status();
    if (!record) {
      out.slots_exist[slot] = true;
      damage += (damage.empty() ? "" : "; ") + record.status().message();
      continue;
    }
    if (!record->has_value()) continue;
    out.slots_exist[slot] = true;
    if (!best || (*record)->sequence > best->sequence) {
      best = std::move(**record);
      out.newest_slot = slot;
    }
  }
  if (!best && (out.slots_exist[0] || out.slots_exist[1])) {
    return error(ErrorCode::corruption, damage +
                                            "; the double-sign guard cannot be trusted, refusing to sign "
                                            "(see docs/operations.md)");
  }
  if (!best) {
    auto legacy = load_legacy(path_);
    if (!legacy) return legacy.status();
    out.state = std::move(*legacy);
    return out;
  }
  if (!damage.empty()) {
    // The other file's save was cut short by a crash (its message never left).
    spdlog::warn("sign state: {}; using the other file's record {}", damage, best->sequence);
  }
  out.sequence = best->sequence;
  if (!best->payload.empty()) {
    auto state = proto::decode<pb::SignState>(best->payload);
    if (!state)
      return error(ErrorCode::corruption,
                   slot_path(*out.newest_slot).string() + ": " + state.status().message());
    out.state = std::move(state).value();
  }
  return out;
}

Result<std::optional<pb::SignState>> SignStateFile::load() const {
  auto stored = read_stored();
  if (!stored) return stored.status();
  return std::move(stored->state);
}

// Before the first rewrite: both record files exist (the missing ones made
// whole, with the stored state) and are open.
Status SignStateFile::open_slots() {
  Stored& s = *stored_;
  for (int slot = 0; slot < 2; ++slot) {
    if (s.slots_exist[slot]) {
      auto file = RecordFile::open(slot_path(slot));
      if (!file) return file.status();
      slots_[slot] = std::move(file).value();
      continue;
    }
    auto file = RecordFile::create(slot_path(slot), record_of(s.sequence, s.state));
    if (!file) return file.status();
    slots_[slot] = std::move(file).value();
    s.slots_exist[slot] = true;
    // The other file may be damaged (a cut-short save): this one is the newest now.
    if (!s.newest_slot || s.newest_slot != 1 - slot) s.newest_slot = slot;
  }
  // Both record files are whole: the old format's file is not read again.
  std::error_code ignored;
  std::filesystem::remove(path_, ignored);
  return {};
}

Status SignStateFile::save(const pb::SignState& state) {
  if (!stored_) {
    auto stored = read_stored();
    if (!stored) return stored.status();
    stored_ = std::move(stored).value();
    CL_TRY(open_slots());
  }
  Stored& s = *stored_;
  if (s.state && position(state) < position(*s.state)) {
    return error(ErrorCode::internal, "sign state would move backwards (refused)");
  }
  const int slot = 1 - *s.newest_slot;
  CL_TRY(slots_[slot].rewrite(record_of(s.sequence + 1, state)));
  s.sequence += 1;
  s.newest_slot = slot;
  s.state = state;
  return {};
}

}  // namespace cityledger::node
