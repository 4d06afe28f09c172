#include "node/block_keeper.hpp"

#include <spdlog/spdlog.h>

#include <charconv>

#include "node/durable_file.hpp"
#include "proto/codec.hpp"
#include "proto/objects.hpp"

namespace cityledger::node {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t kept_block_bytes_max = 64u << 20;
constexpr const char* suffix = ".block";

std::string file_name(std::uint64_t height, const Hash32& hash) {
  return std::to_string(height) + "-" + hash.hex() + suffix;
}

// "<height>-<hex>.block" -> height (nullopt for anything else).
std::optional<std::uint64_t> height_of(const std::string& name) {
  const auto dash = name.find('-');
  if (dash == std::string::npos || !name.ends_with(suffix)) return std::nullopt;
  std::uint64_t height = 0;
  const auto [end, ec] = std::from_chars(name.data(), name.data() + dash, height);
  if (ec != std::errc() || end != name.data() + dash) return std::nullopt;
  return height;
}

}  // namespace

Status BlockKeeper::open() {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) return error(ErrorCode::io_error, "cannot create " + dir_.string() + ": " + ec.message());
  return {};
}

Status BlockKeeper::keep(const pb::Block& block) {
  const fs::path path = dir_ / file_name(block.header().height(), proto::block_hash(block.header()));
  std::error_code ec;
  if (fs::exists(path, ec)) return {};
  return write_file_durably(path, proto::encode(block));
}

std::vector<pb::Block> BlockKeeper::load(std::uint64_t height) const {
  std::vector<pb::Block> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (height_of(name) != height) continue;
    auto bytes = read_file_if_exists(it->path());
    if (!bytes || !bytes->has_value()) {
      spdlog::warn("kept block {}: cannot read it; ignored", it->path().string());
      continue;
    }
    auto block = proto::decode<pb::Block>(**bytes, kept_block_bytes_max);
    if (!block || name != file_name(height, proto::block_hash(block->header())) ||
        block->header().height() != height) {
      spdlog::warn("kept block {}: damaged (does not decode to the block its name says); ignored",
                   it->path().string());
      continue;
    }
    out.push_back(std::move(*block));
  }
  if (ec) spdlog::warn("cannot list kept blocks in {}: {}", dir_.string(), ec.message());
  return out;
}

void BlockKeeper::prune_through(std::uint64_t height) {
  std::error_code ec;
  std::vector<fs::path> old;
  for (fs::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
    const auto h = height_of(it->path().filename().string());
    if (h && *h <= height) old.push_back(it->path());
  }
  for (const auto& path : old) fs::remove(path, ec);
}

}  // namespace cityledger::node
