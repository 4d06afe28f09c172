// The CLI's durable file writes (rpc/src/cli/common.cpp): what a crash or a
// failure may leave behind.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "cli/cli.hpp"

namespace cityledger::cli {
namespace {

namespace fs = std::filesystem;

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

class CliFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("cityledger-cli-files-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "a");
    fs::create_directories(dir_ / "b");
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Every name under dir_, recursively.
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(dir_)) {
      out.push_back(fs::relative(e.path(), dir_).string());
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  fs::path dir_;
};

TEST_F(CliFiles, ManyFilesInSeveralDirectoriesReplaceOldOnes) {
  std::ofstream(dir_ / "a" / "one.json") << "old";
  const std::vector<FileToWrite> files{{dir_ / "a" / "one.json", "first\n"},
                                       {dir_ / "a" / "two.json", ""},
                                       {dir_ / "b" / "three.json", "third"}};
  ASSERT_TRUE(write_files_atomic(files).ok());
  EXPECT_EQ(read_all(dir_ / "a" / "one.json"), "first\n");
  EXPECT_EQ(read_all(dir_ / "a" / "two.json"), "");
  EXPECT_EQ(read_all(dir_ / "b" / "three.json"), "third");
  EXPECT_EQ(names(), (std::vector<std::string>{"a", "a/one.json", "a/two.json", "b", "b/three.json"}));
  EXPECT_TRUE(write_files_atomic({}).ok());
}

TEST_F(CliFiles, MissingDirectoryWritesNothing) {
  const std::vector<FileToWrite> files{{dir_ / "a" / "one.json", "1"}, {dir_ / "nope" / "two.json", "2"}};
  const Status s = write_files_atomic(files);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), ErrorCode::io_error);
  EXPECT_NE(s.message().find("nope"), std::string::npos) << s.message();
  EXPECT_EQ(names(), (std::vector<std::string>{"a", "b"}));
}

TEST_F(CliFiles, FailedRenameSaysHowManyLandedAndLeavesNoTemporaries) {
  // The second target is a non-empty directory: its rename fails after the
  // first file is in place.
  fs::create_directories(dir_ / "b" / "two.json" / "inside");
  const std::vector<FileToWrite> files{
      {dir_ / "a" / "one.json", "1"}, {dir_ / "b" / "two.json", "2"}, {dir_ / "b" / "three.json", "3"}};
  const Status s = write_files_atomic(files);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("two.json"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("1 of 3 files were renamed"), std::string::npos) << s.message();
  EXPECT_EQ(read_all(dir_ / "a" / "one.json"), "1");
  EXPECT_EQ(names(), (std::vector<std::string>{"a", "a/one.json", "b", "b/two.json", "b/two.json/inside"}));
}

// The agent's proof tree mirrors the watched tree: one batch may touch more
// directories than a process may hold open.
TEST_F(CliFiles, FilesInMoreDirectoriesThanDescriptors) {
  std::vector<FileToWrite> files;
  for (int i = 0; i < 1500; ++i) {
    const fs::path d = dir_ / "many" / std::to_string(i);
    fs::create_directories(d);
    files.push_back({d / "p.json", std::to_string(i)});
  }
  ASSERT_TRUE(write_files_atomic(files).ok());
  EXPECT_EQ(read_all(dir_ / "many" / "1499" / "p.json"), "1499");
  EXPECT_FALSE(fs::exists(dir_ / "many" / "0" / "p.json.tmp"));
}

TEST_F(CliFiles, ParentThatIsAFile) {
  std::ofstream(dir_ / "plain") << "x";
  const std::vector<FileToWrite> files{{dir_ / "plain" / "one.json", "1"}};
  const Status s = write_files_atomic(files);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("not a directory"), std::string::npos) << s.message();
}

TEST_F(CliFiles, SingleFileWrite) {
  ASSERT_TRUE(write_file_atomic(dir_ / "a" / "x", "content").ok());
  EXPECT_EQ(read_all(dir_ / "a" / "x"), "content");
  EXPECT_FALSE(write_file_atomic(dir_ / "nope" / "x", "content").ok());
  EXPECT_EQ(names(), (std::vector<std::string>{"a", "a/x", "b"}));
}

}  // namespace
}  // namespace cityledger::cli
