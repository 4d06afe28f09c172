// Programmer errors: assertions that stay on in release builds (they guard
// safety properties such as "never sign two votes for one height/round/step").
#pragma once

namespace cityledger::detail {
[[noreturn]] void check_failed(const char* expression, const char* file, int line) noexcept;
}

#define CL_CHECK(condition)                                               \
  do {                                                                    \
    if (!(condition)) [[unlikely]]                                        \
      ::cityledger::detail::check_failed(#condition, __FILE__, __LINE__); \
  } while (0)
