#include "node/service_notify.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace cityledger::node {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// What systemd does: a datagram socket whose path is in NOTIFY_SOCKET.
class NotifySocket : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = fs::temp_directory_path() / ("cl_notify_" + std::to_string(::getpid()) + ".sock");
    fs::remove(path_);
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd_, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    const std::string path = path_.string();
    ASSERT_LT(path.size(), sizeof address.sun_path);
    std::copy(path.begin(), path.end(), address.sun_path);
    ASSERT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    timeval timeout{0, 100'000};
    ASSERT_EQ(::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout), 0);
    ::setenv("NOTIFY_SOCKET", path_.c_str(), 1);
  }
  void TearDown() override {
    ::unsetenv("NOTIFY_SOCKET");
    ::unsetenv("WATCHDOG_USEC");
    ::unsetenv("WATCHDOG_PID");
    if (fd_ >= 0) ::close(fd_);
    fs::remove(path_);
  }
  // The next message, or "" after 100 ms without one.
  std::string receive() {
    char buffer[4096];
    const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
    return n > 0 ? std::string(buffer, static_cast<std::size_t>(n)) : std::string();
  }
  // Every message that arrives within `duration`.
  std::vector<std::string> receive_for(std::chrono::milliseconds duration) {
    std::vector<std::string> messages;
    const auto end = std::chrono::steady_clock::now() + duration;
    while (std::chrono::steady_clock::now() < end) {
      std::string m = receive();
      if (!m.empty()) messages.push_back(std::move(m));
    }
    return messages;
  }
  static std::size_t count_watchdog(const std::vector<std::string>& messages) {
    std::size_t n = 0;
    for (const auto& m : messages) n += m.starts_with("WATCHDOG=1\n") ? 1 : 0;
    return n;
  }

  fs::path path_;
  int fd_ = -1;
};

TEST_F(NotifySocket, MessagesCarryTheirAssignmentAndOneStatusLine) {
  EXPECT_TRUE(notify_ready("height 3, peers 2/3"));
  EXPECT_EQ(receive(), "READY=1\nSTATUS=height 3, peers 2/3");
  EXPECT_TRUE(notify_status("opening /var/lib/cityledger\nsecond line"));
  EXPECT_EQ(receive(), "STATUS=opening /var/lib/cityledger");
  EXPECT_TRUE(notify_stopping("stopping on signal 15"));
  EXPECT_EQ(receive(), "STOPPING=1\nSTATUS=stopping on signal 15");
}

TEST_F(NotifySocket, NothingIsSentWithoutNotifySocket) {
  ::unsetenv("NOTIFY_SOCKET");
  EXPECT_FALSE(notify_ready("x"));
  EXPECT_EQ(receive(), "");
  ServiceReporter reporter([] { return std::string("s"); }, [](std::function<void()> done) { done(); }, 10ms);
  EXPECT_TRUE(receive_for(100ms).empty());
}

TEST_F(NotifySocket, WatchdogIsOffUnlessForThisProcess) {
  EXPECT_EQ(watchdog_interval().count(), 0);
  ::setenv("WATCHDOG_USEC", "400000", 1);
  ::setenv("WATCHDOG_PID", std::to_string(::getpid() + 1).c_str(), 1);
  EXPECT_EQ(watchdog_interval().count(), 0);
  ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
  EXPECT_EQ(watchdog_interval(), 400ms);
}

TEST_F(NotifySocket, ReporterSendsStatusWithoutWatchdog) {
  ServiceReporter reporter([] { return std::string("height 7"); }, [](std::function<void()> done) { done(); },
                           50ms);
  const auto messages = receive_for(400ms);
  reporter.stop();
  ASSERT_GE(messages.size(), 3u);
  for (const auto& m : messages) EXPECT_EQ(m, "STATUS=height 7");
}

TEST_F(NotifySocket, WatchdogPingsOnlyWhileTheNodeAnswers) {
  ::setenv("WATCHDOG_USEC", "200000", 1);
  ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
  std::atomic<bool> answering{true};
  ServiceReporter reporter([] { return std::string("height 9"); },
                           [&answering](std::function<void()> done) {
                             if (answering) done();  // a wedged node never runs `done`
                           });
  // Half the watchdog interval: about 10 pings in 1 s.
  const auto alive = receive_for(1000ms);
  EXPECT_GE(count_watchdog(alive), 6u);
  for (const auto& m : alive) EXPECT_EQ(m, "WATCHDOG=1\nSTATUS=height 9");

  answering = false;
  // Pings stop within one watchdog interval (the last answer must be recent).
  receive_for(350ms);
  const auto wedged = receive_for(600ms);
  reporter.stop();
  EXPECT_EQ(count_watchdog(wedged), 0u);
  ASSERT_FALSE(wedged.empty());
  EXPECT_EQ(wedged.back(), "STATUS=not answering: height 9");
}

}  // namespace
}  // namespace cityledger::node
