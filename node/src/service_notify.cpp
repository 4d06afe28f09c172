#include "node/service_notify.hpp"

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <atomic>
#include <cstdlib>
#include <memory>

namespace cityledger::node {

namespace {

// `assignment` is "READY=1" and the like, or empty for a STATUS= alone.
bool send(std::string_view assignment, std::string_view status) {
  std::string message(assignment);
  if (!status.empty()) {
    if (!message.empty()) message += '\n';
    // One line: systemd shows STATUS= up to the first newline only.
    message += "STATUS=";
    message += status.substr(0, status.find('\n'));
  }
  if (message.empty()) return false;
  // unset_environment = 0: the reporter thread and later messages still need
  // NOTIFY_SOCKET. sd_notify returns 0 without the variable, < 0 on errors.
  return sd_notify(0, message.c_str()) > 0;
}

}  // namespace

bool notify_ready(std::string_view status) { return send("READY=1", status); }
bool notify_status(std::string_view status) { return send("", status); }
bool notify_watchdog(std::string_view status) { return send("WATCHDOG=1", status); }
bool notify_stopping(std::string_view status) { return send("STOPPING=1", status); }

std::chrono::microseconds watchdog_interval() {
  std::uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0) return std::chrono::microseconds(0);
  return std::chrono::microseconds(usec);
}

ServiceReporter::ServiceReporter(std::function<std::string()> status_line, Probe probe,
                                 std::chrono::milliseconds status_period)
    : status_line_(std::move(status_line)),
      probe_(std::move(probe)),
      period_(status_period),
      watchdog_(watchdog_interval()),
      last_alive_(std::chrono::steady_clock::now()) {
  // Without a service manager there is nobody to report to: no thread.
  const char* socket = std::getenv("NOTIFY_SOCKET");
  if (socket == nullptr || *socket == '\0') return;
  if (watchdog_.count() > 0) {
    spdlog::info("systemd watchdog on: pinging every {} ms while the node answers",
                 std::chrono::duration_cast<std::chrono::milliseconds>(watchdog_ / 2).count());
  }
  thread_ = std::thread([this] { run(); });
}

ServiceReporter::~ServiceReporter() { stop(); }

void ServiceReporter::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ServiceReporter::run() {
  using clock = std::chrono::steady_clock;
  auto tick = std::chrono::duration_cast<clock::duration>(period_);
  if (watchdog_.count() > 0)
    tick = std::min(tick, std::chrono::duration_cast<clock::duration>(watchdog_ / 2));
  // The probe's answer may arrive after this object is gone (a handler still
  // queued on the node's io_context); it writes only to this shared value.
  auto alive_ns = std::make_shared<std::atomic<std::int64_t>>(last_alive_.time_since_epoch().count());
  bool warned = false;
  std::unique_lock lock(mutex_);
  while (!wake_.wait_for(lock, tick, [this] { return stopping_; })) {
    lock.unlock();
    probe_([alive_ns] { alive_ns->store(clock::now().time_since_epoch().count()); });
    const std::string status = status_line_();
    if (watchdog_.count() > 0) {
      const clock::time_point alive{clock::duration(alive_ns->load())};
      // The probe of this tick may still be on its way; the one of the tick
      // before must have answered. Two ticks are at most one watchdog interval.
      if (clock::now() - alive <= watchdog_) {
        notify_watchdog(status);
        warned = false;
      } else {
        if (!warned)
          spdlog::warn("the node's I/O threads do not answer; withholding the systemd watchdog ping");
        warned = true;
        notify_status("not answering: " + status);
      }
    } else {
      notify_status(status);
    }
    lock.lock();
  }
}

}  // namespace cityledger::node
