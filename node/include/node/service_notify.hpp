// Telling the service manager how the validator is doing: the systemd notify
// protocol (sd_notify(3)) for `Type=notify` units (packaging/cityledgerd.service).
//
// Every call is a no-op when the process was not started with NOTIFY_SOCKET
// (a shell, a test, a container without systemd), so the node calls them
// unconditionally.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace cityledger::node {

// One-shot messages. Each returns true when a message was delivered to the
// service manager, false when there is none or it could not be reached
// (which the node ignores: it never stops because systemd is absent).
bool notify_ready(std::string_view status);     // READY=1 and STATUS=
bool notify_status(std::string_view status);    // STATUS=
bool notify_watchdog(std::string_view status);  // WATCHDOG=1 and STATUS=
bool notify_stopping(std::string_view status);  // STOPPING=1 and STATUS=

// The watchdog interval systemd expects pings within (WatchdogSec=), or zero
// when the watchdog is off or meant for another process (WATCHDOG_PID).
std::chrono::microseconds watchdog_interval();

// After READY=1: a thread that sends STATUS= every `status_period` and, when
// the watchdog is on, WATCHDOG=1 at half its interval, but only while
// `probe` shows the node is alive. `probe(done)` must arrange for `done()` to
// be called from the node's own I/O threads (e.g. posted to its io_context):
// a wedged node stops answering, stops pinging, and systemd restarts it
// instead of keeping a silent validator. `status_line()` is called from the
// reporter's thread.
class ServiceReporter {
 public:
  using Probe = std::function<void(std::function<void()> done)>;
  ServiceReporter(std::function<std::string()> status_line, Probe probe,
                  std::chrono::milliseconds status_period = std::chrono::seconds(10));
  ~ServiceReporter();  // stops the thread
  ServiceReporter(const ServiceReporter&) = delete;
  ServiceReporter& operator=(const ServiceReporter&) = delete;

  void stop();

 private:
  void run();

  std::function<std::string()> status_line_;
  Probe probe_;
  std::chrono::milliseconds period_;
  std::chrono::microseconds watchdog_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::chrono::steady_clock::time_point last_alive_;
  std::thread thread_;
};

}  // namespace cityledger::node
