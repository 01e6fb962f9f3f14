// The server's own health figures over the last hour, kept in memory (a ring buffer, no database):
// sampled every `period` from Metrics (requests, latency, errors, DB time, connections) and the
// process and disk, plus gauges other modules register (jobs pending, a job stuck, nodes down...).
// The admin's health page charts them (GET /api/v1/admin/health), alerts (src/alerts) evaluate the
// latest sample, and Prometheus gets the same figures as `atrium_health_<name>` gauges.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.hpp"

namespace atrium::obs {

class Metrics;

// One figure a sample carries. Built-in names (always present once sampled; a figure that could not
// be read that time is absent from that sample's values):
//   requests_per_s, latency_p50_s, latency_p95_s, latency_p99_s  (over the sample's interval)
//   error_rate        share of responses with status >= 500 in the interval, 0..1 (0 with no requests)
//   db_time_s         seconds spent in the database per second of the interval
//   open_connections, rss_bytes, disk_free_bytes, disk_free_ratio (0..1, under the data directory)
// plus every gauge added with add_gauge.
struct Figure {
  std::string name;
  std::string unit;  // "1/s", "s", "ratio", "bytes", "count"
  std::string help;
};

struct Sample {
  Millis at = 0;
  std::map<std::string, double> values;
};

class Health {
 public:
  // capacity samples are kept (default: one hour at 5 s).
  Health(const Metrics& metrics, const Clock& clock, std::string data_dir, Millis period_ms = 5000,
         std::size_t capacity = 720);

  // Before the first sample (at startup). `read` runs on the worker pool; nullopt = unknown now.
  // The name must be new and match [a-z][a-z0-9_]* (it becomes a Prometheus name): else abort.
  void add_gauge(Figure figure, std::function<std::optional<double>()> read);
  // Called after each sample with it, on the sampling thread (the worker pool), outside the lock:
  // where alerts evaluate their rules. Add before the first sample.
  void on_sample(std::function<void(const Sample&)> f);

  // Takes one sample now (called every period by the app's timer on the worker pool; tests call it
  // directly with a ManualClock). Interval figures are differences from the previous sample.
  void sample();

  Millis period_ms() const { return period_ms_; }
  std::vector<Figure> figures() const;
  std::vector<Sample> since(Millis from) const;  // those taken after `from`, oldest first
  std::optional<Sample> latest() const;
  // Prometheus text: `atrium_health_<name>` gauges of the latest sample.
  std::string render() const;

 private:
  struct Totals {
    Millis at = 0;
    double requests = 0, errors = 0, db_seconds = 0;
    std::vector<double> latency_buckets;
  };
  Totals read_totals(Millis now) const;
  void add_interval_figures(const Totals& now, Sample& s) const;  // REQUIRES(mu_)

  const Metrics& metrics_;
  const Clock& clock_;
  std::string data_dir_;
  Millis period_ms_;
  std::size_t capacity_;
  mutable std::mutex mu_;
  std::vector<std::pair<Figure, std::function<std::optional<double>()>>> gauges_;  // GUARDED_BY(mu_)
  std::vector<Sample> ring_;                                                        // GUARDED_BY(mu_)
  std::size_t next_ = 0;                                                            // GUARDED_BY(mu_)
  std::vector<std::function<void(const Sample&)>> listeners_;                        // GUARDED_BY(mu_)
  std::optional<Totals> last_;  // GUARDED_BY(mu_); the previous sample's (the constructor's at first)
};

}  // namespace atrium::obs
