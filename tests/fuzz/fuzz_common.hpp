// Helpers shared by the fuzz targets and their seed generator.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>

// A fuzz target found a broken property: abort so libFuzzer records the input.
#define FUZZ_ASSERT(condition)                                                                    \
  do {                                                                                            \
    if (!(condition)) {                                                                           \
      std::fprintf(stderr, "fuzz property failed: %s (%s:%d)\n", #condition, __FILE__, __LINE__); \
      std::abort();                                                                               \
    }                                                                                             \
  } while (0)

namespace cityledger::fuzz {
inline constexpr const char* chain_id = "fuzz-chain";
}
