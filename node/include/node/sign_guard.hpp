// The double-sign guard's storage: the last SignState the consensus core asked
// to persist (its last signed proposal or vote, and its lock). Written durably
// before the signed message leaves the process; read once at start.
//
// File format: "CLSIGN1\n" || SHA-256(payload) || payload, payload = canonical
// pb::SignState. A file that fails its checksum or does not decode stops the
// node with a clear error: silently starting without the guard could sign a
// conflicting vote.
#pragma once

#include <filesystem>
#include <optional>

#include "cityledger.pb.h"
#include "common/result.hpp"

namespace cityledger::node {

class SignStateFile {
 public:
  explicit SignStateFile(std::filesystem::path path) : path_(std::move(path)) {}

  // nullopt when this validator never signed anything.
  Result<std::optional<pb::SignState>> load() const;
  // Refuses to move backwards: a state below the stored one (height, round,
  // step) is a programming error upstream and is reported, not written.
  Status save(const pb::SignState& state);

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  std::optional<pb::SignState> last_;
};

}  // namespace cityledger::node
