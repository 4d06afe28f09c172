// The simulator's only source of randomness: xoshiro256** seeded through
// splitmix64. Written out here (rather than std::mt19937_64 with the standard
// distributions, whose outputs differ between standard libraries) so that a
// seed replays the same run on every platform.
#pragma once

#include <cstdint>

#include "common/check.hpp"

namespace cityledger::sim {

class Rng {
 public:
  explicit Rng(std::uint64_t seed) {
    std::uint64_t x = seed;
    for (auto& word : state_) word = splitmix64(x);
  }

  std::uint64_t next() {
    const std::uint64_t result = rotl(state_[1] * 5, 7) * 9;
    const std::uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }

  // Uniform in [0, bound). The modulo bias is below 2^-40 for the bounds we use.
  std::uint64_t below(std::uint64_t bound) {
    CL_CHECK(bound > 0);
    return next() % bound;
  }
  // Uniform in [low, high], both included.
  std::uint64_t range(std::uint64_t low, std::uint64_t high) {
    CL_CHECK(low <= high);
    return low + below(high - low + 1);
  }
  // Uniform in [0, 1).
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  bool chance(double probability) { return unit() < probability; }
  template <typename T, std::size_t N>
  const T& pick(const T (&values)[N]) {
    return values[below(N)];
  }

  static std::uint64_t splitmix64(std::uint64_t& x) {
    std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::uint64_t state_[4];
};

}  // namespace cityledger::sim
