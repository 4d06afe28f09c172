// Where the shared test vectors live (../shared/testdata relative to the root).
#pragma once

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace cityledger::testing {

inline std::filesystem::path testdata_dir() { return CITYLEDGER_TESTDATA_DIR; }

inline std::string read_testdata(const std::string& name) {
  std::ifstream in(testdata_dir() / name, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace cityledger::testing
