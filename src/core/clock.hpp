// Time as an injected dependency: services and policies take a Clock&, tests pass a ManualClock.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include "core/notifier.hpp"

namespace atrium {

// Milliseconds since the Unix epoch; the unit stored in the database.
using Millis = std::int64_t;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual Millis now_ms() const = 0;
  // A clock that moves by jumps (a test's ManualClock) notifies each one, so that timers waiting
  // on it re-check their deadlines; nullptr: the clock moves with real time.
  virtual const Notifier* jumps() const { return nullptr; }
};

class SystemClock final : public Clock {
 public:
  Millis now_ms() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

class ManualClock final : public Clock {
 public:
  explicit ManualClock(Millis start = 1'700'000'000'000) : now_(start) {}
  Millis now_ms() const override { return now_.load(); }
  void advance_ms(Millis d) {
    now_ += d;
    jumps_.notify();
  }
  void set_ms(Millis t) {
    now_ = t;
    jumps_.notify();
  }
  const Notifier* jumps() const override { return &jumps_; }

 private:
  std::atomic<Millis> now_;
  Notifier jumps_;
};

// Elapsed time for measurements (durations in metrics and logs), on the monotonic clock: the one
// place outside the async runtime that reads it. Deadlines and schedules use a Clock.
class Stopwatch {
 public:
  Stopwatch() : t0_(std::chrono::steady_clock::now()) {}
  double seconds() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count(); }
  Millis millis() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0_).count();
  }
  void restart() { t0_ = std::chrono::steady_clock::now(); }

 private:
  std::chrono::steady_clock::time_point t0_;
};

// Blocks the calling thread for `ms`: for client processes (the CLI) only. The server waits on
// timers and notifiers (core/async), never by sleeping.
void client_sleep_ms(Millis ms);

// RFC 3339 UTC with milliseconds: 2026-11-25T19:16:09.123Z
std::string format_rfc3339(Millis t);
// Accepts RFC 3339 timestamps with Z or an offset; nullopt-like failure returns false.
bool parse_rfc3339(std::string_view s, Millis& out);

}  // namespace atrium
