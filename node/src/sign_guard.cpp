#include "node/sign_guard.hpp"

#include <tuple>

#include "crypto/sha256.hpp"
#include "node/durable_file.hpp"
#include "proto/codec.hpp"

namespace cityledger::node {

namespace {
constexpr std::string_view magic = "CLSIGN1\n";

auto position(const pb::SignState& s) { return std::make_tuple(s.height(), s.round(), s.step()); }
}  // namespace

Result<std::optional<pb::SignState>> SignStateFile::load() const {
  auto content = read_file_if_exists(path_);
  if (!content) return content.status();
  if (!content->has_value()) return std::optional<pb::SignState>{};
  const std::string& text = **content;
  if (text.size() < magic.size() + 32 || text.compare(0, magic.size(), magic) != 0) {
    return error(ErrorCode::corruption, path_.string() + " is not a sign-state file (bad header)");
  }
  const std::string_view checksum(text.data() + magic.size(), 32);
  const std::string_view payload(text.data() + magic.size() + 32, text.size() - magic.size() - 32);
  if (crypto::sha256(payload).to_string() != checksum) {
    return error(ErrorCode::corruption, path_.string() +
                                            ": checksum mismatch; the double-sign guard cannot be trusted, "
                                            "refusing to sign (restore the file or see docs/operations.md)");
  }
  auto state = proto::decode<pb::SignState>(payload);
  if (!state) return error(ErrorCode::corruption, path_.string() + ": " + state.status().message());
  return std::optional<pb::SignState>(std::move(state).value());
}

Status SignStateFile::save(const pb::SignState& state) {
  if (!last_) {
    auto stored = load();
    if (!stored) return stored.status();
    last_ = *stored;
  }
  if (last_ && position(state) < position(*last_)) {
    return error(ErrorCode::internal, "sign state would move backwards (refused)");
  }
  const std::string payload = proto::encode(state);
  std::string content(magic);
  content += crypto::sha256(payload).to_string();
  content += payload;
  CL_TRY(write_file_durably(path_, content));
  last_ = state;
  return {};
}

}  // namespace cityledger::node
