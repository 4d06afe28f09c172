// Small files that must survive a crash whole: write to a temp file, fsync it,
// rename over the target, fsync the directory (a rename without the directory
// fsync can roll back after a power loss).
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "common/result.hpp"

namespace cityledger::node {

Status write_file_durably(const std::filesystem::path& path, std::string_view content);
// strerror(errno), for the messages of failed system calls.
std::string errno_text();

// nullopt when the file does not exist; an error when it exists but cannot be read.
Result<std::optional<std::string>> read_file_if_exists(const std::filesystem::path& path);

}  // namespace cityledger::node
