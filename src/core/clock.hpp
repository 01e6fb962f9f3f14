// Time as an injected dependency: services and policies take a Clock&, tests pass a ManualClock.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

namespace atrium {

// Milliseconds since the Unix epoch; the unit stored in the database.
using Millis = std::int64_t;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual Millis now_ms() const = 0;
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
  void advance_ms(Millis d) { now_ += d; }
  void set_ms(Millis t) { now_ = t; }

 private:
  std::atomic<Millis> now_;
};

// RFC 3339 UTC with milliseconds: 2026-11-25T19:16:09.123Z
std::string format_rfc3339(Millis t);
// Accepts RFC 3339 timestamps with Z or an offset; nullopt-like failure returns false.
bool parse_rfc3339(std::string_view s, Millis& out);

}  // namespace atrium
