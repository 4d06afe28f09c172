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
constexpr const char* legacy_suffix = ".block";

// Earlier layout: "<height>-<hex>.block" -> height (nullopt for anything else).
std::optional<std::uint64_t> legacy_height_of(const std::string& name) {
  const auto dash = name.find('-');
  if (dash == std::string::npos || !name.ends_with(legacy_suffix)) return std::nullopt;
  std::uint64_t height = 0;
  const auto [end, ec] = std::from_chars(name.data(), name.data() + dash, height);
  if (ec != std::errc() || end != name.data() + dash) return std::nullopt;
  return height;
}

std::string legacy_name(std::uint64_t height, const Hash32& hash) {
  return std::to_string(height) + "-" + hash.hex() + legacy_suffix;
}

// The block a slot's record holds, if it is whole and of the height it says.
std::optional<pb::Block> block_of(const fs::path& path, const Record& record) {
  auto block = proto::decode<pb::Block>(record.payload, kept_block_bytes_max);
  if (!block || block->header().height() != record.sequence) {
    spdlog::warn("kept block {}: does not decode to a block of height {}; ignored", path.string(),
                 record.sequence);
    return std::nullopt;
  }
  return std::move(block).value();
}

}  // namespace

fs::path BlockKeeper::slot_path(std::size_t index) const {
  return dir_ / ("slot-" + std::to_string(index) + ".blk");
}

Status BlockKeeper::open() {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) return error(ErrorCode::io_error, "cannot create " + dir_.string() + ": " + ec.message());
  slots_.clear();
  for (std::size_t i = 0; i < slots_max; ++i) {
    const fs::path path = slot_path(i);
    auto record = RecordFile::read(path);
    if (record.ok() && !record->has_value()) break;  // slots are made in order
    auto file = RecordFile::open(path);
    if (!file) return file.status();
    Slot slot{std::move(file).value(), std::nullopt, Hash32{}};
    if (!record) {
      spdlog::warn("kept block {}: {}; the slot is reused", path.string(), record.status().message());
    } else if (auto block = block_of(path, **record)) {
      slot.height = block->header().height();
      slot.block_hash = proto::block_hash(block->header());
    }
    slots_.push_back(std::move(slot));
  }
  for (fs::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
    if (legacy_height_of(it->path().filename().string())) legacy_files_ = true;
  }
  return {};
}

Status BlockKeeper::keep(const pb::Block& block) {
  const std::uint64_t height = block.header().height();
  const Hash32 hash = proto::block_hash(block.header());
  Slot* free = nullptr;
  for (auto& slot : slots_) {
    if (slot.height == height && slot.block_hash == hash) return {};
    if (!free && (!slot.height || *slot.height <= pruned_through_)) free = &slot;
  }
  const Record record{height, proto::encode(block)};
  if (free) {
    // Freed first: if the rewrite fails half-way the slot holds nothing usable.
    free->height.reset();
    CL_TRY(free->file.rewrite(record));
  } else {
    if (slots_.size() >= slots_max) {
      return error(ErrorCode::unavailable, "all " + std::to_string(slots_max) +
                                               " kept-block slots hold blocks of uncommitted heights");
    }
    auto file = RecordFile::create(slot_path(slots_.size()), record);
    if (!file) return file.status();
    slots_.push_back(Slot{std::move(file).value(), std::nullopt, Hash32{}});
    free = &slots_.back();
  }
  free->height = height;
  free->block_hash = hash;
  return {};
}

std::vector<pb::Block> BlockKeeper::load(std::uint64_t height) const {
  std::vector<pb::Block> out;
  for (const auto& slot : slots_) {
    if (slot.height != height) continue;
    auto record = RecordFile::read(slot.file.path());
    if (!record || !record->has_value()) {
      spdlog::warn("kept block {}: cannot read it; ignored", slot.file.path().string());
      continue;
    }
    if (auto block = block_of(slot.file.path(), **record)) out.push_back(std::move(*block));
  }
  if (!legacy_files_) return out;
  std::error_code ec;
  for (fs::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (legacy_height_of(name) != height) continue;
    auto bytes = read_file_if_exists(it->path());
    if (!bytes || !bytes->has_value()) {
      spdlog::warn("kept block {}: cannot read it; ignored", it->path().string());
      continue;
    }
    auto block = proto::decode<pb::Block>(**bytes, kept_block_bytes_max);
    if (!block || name != legacy_name(height, proto::block_hash(block->header())) ||
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
  pruned_through_ = std::max(pruned_through_, height);
  for (auto& slot : slots_) {
    if (slot.height && *slot.height <= height) slot.height.reset();
  }
  if (!legacy_files_) return;
  std::error_code ec;
  std::vector<fs::path> old;
  bool newer = false;
  for (fs::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
    const auto h = legacy_height_of(it->path().filename().string());
    if (h && *h <= height) old.push_back(it->path());
    if (h && *h > height) newer = true;
  }
  for (const auto& path : old) fs::remove(path, ec);
  legacy_files_ = newer;
}

}  // namespace cityledger::node
