// One verifier shared by all cores of a simulated cluster: every signature is
// checked with real BIP340 (crypto::verify) the first time it is seen, and
// only a successful check is remembered. A vote broadcast to n - 1 peers is
// thus verified once instead of n - 1 times, which keeps the simulator fast
// without weakening a single check (the contract in consensus/types.hpp: a
// cache may only remember true answers of real verification).
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <unordered_set>

#include "consensus/types.hpp"
#include "crypto/schnorr.hpp"

namespace cityledger::sim {

class MemoVerifier final : public consensus::SignatureVerifier {
 public:
  // Bounded memory: the cache is emptied when it reaches this many entries.
  static constexpr std::size_t entries_max = 1u << 20;

  bool verify(const crypto::PublicKey& key, const Hash32& digest, const std::string& signature) override {
    if (signature.size() != 64) return crypto::verify(key, digest, as_bytes(signature));
    Entry entry;
    std::memcpy(entry.data(), key.data(), 32);
    std::memcpy(entry.data() + 32, digest.data(), 32);
    std::memcpy(entry.data() + 64, signature.data(), 64);
    if (valid_.contains(entry)) {
      ++hits_;
      return true;
    }
    ++checks_;
    if (!crypto::verify(key, digest, as_bytes(signature))) return false;
    if (valid_.size() >= entries_max) valid_.clear();
    valid_.insert(entry);
    return true;
  }

  std::uint64_t checks() const { return checks_; }
  std::uint64_t hits() const { return hits_; }

 private:
  using Entry = std::array<std::uint8_t, 128>;
  struct EntryHasher {
    std::size_t operator()(const Entry& e) const noexcept {
      // Digest and signature bytes are uniformly random already.
      std::uint64_t a = 0;
      std::uint64_t b = 0;
      std::memcpy(&a, e.data() + 32, 8);
      std::memcpy(&b, e.data() + 64, 8);
      return static_cast<std::size_t>(a ^ (b * 0x9e3779b97f4a7c15ULL));
    }
  };
  std::unordered_set<Entry, EntryHasher> valid_;
  std::uint64_t checks_ = 0;
  std::uint64_t hits_ = 0;
};

}  // namespace cityledger::sim
