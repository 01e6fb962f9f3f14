// Prometheus metrics: request counts and latency by route and status, database time, open
// connections, process RSS and CPU. Rendered in the text exposition format.
#pragma once

#include <array>
#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace atrium::obs {

class Histogram {
 public:
  static constexpr std::array<double, 14> kBounds = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                     0.025,  0.05,    0.1,    0.25,  0.5,    1.0,  5.0};
  void observe(double v);
  void render(std::string& out, const std::string& name, const std::string& labels) const;
  // Per bucket (not cumulative); the last one is above every bound (+Inf).
  const std::array<std::uint64_t, kBounds.size() + 1>& counts() const { return counts_; }
  double sum() const { return sum_; }

 private:
  std::array<std::uint64_t, kBounds.size() + 1> counts_{};
  double sum_ = 0;
  std::uint64_t count_ = 0;
};

// Cumulative figures since start (obs::Health samples them and takes differences).
struct Totals {
  std::uint64_t requests = 0;
  std::uint64_t errors = 0;  // responses with status >= 500
  double db_seconds = 0;     // time spent in database statements
  std::array<std::uint64_t, Histogram::kBounds.size() + 1> latency{};  // every route's, merged
};

class Metrics {
 public:
  void observe_request(std::string_view route, std::string_view method, int status, double seconds);
  void observe_db(double seconds);
  void observe_db_flush(double seconds, std::uint64_t commits);
  void connection_opened() { ++open_connections_; ++accepted_connections_; }
  void connection_closed() { --open_connections_; }
  std::int64_t open_connections() const { return open_connections_.load(); }
  // A connection refused or cut by a limit; `reason` is one of a few fixed names (per_ip,
  // per_user, max_connections, evicted, preauth_timeout, upstream_timeout, tunnel_idle,
  // unauthorized_body, spool_reserve).
  void connection_cut(std::string_view reason);
  std::string render() const;
  Totals totals() const;
  // A module's own metrics, rendered after these (Prometheus text); set at startup, before requests.
  void add_source(std::function<std::string()> f) { sources_.push_back(std::move(f)); }

 private:
  std::vector<std::function<std::string()>> sources_;
  // Per route pattern and method: counts by status and the latency histogram. Looked up by
  // string_view, so observing a known route allocates nothing.
  struct MethodStats {
    std::map<int, std::uint64_t> by_status;
    Histogram latency;
    bool used = false;
  };
  static constexpr std::array<const char*, 8> kMethods = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"};
  mutable std::mutex mu_;
  std::map<std::string, std::array<MethodStats, kMethods.size()>, std::less<>> routes_;  // GUARDED_BY(mu_)
  Histogram db_;                                                                         // GUARDED_BY(mu_)
  Histogram all_latency_;                                                                // GUARDED_BY(mu_)
  std::uint64_t errors_ = 0;                                                             // GUARDED_BY(mu_)
  Histogram db_flush_;                                                                   // GUARDED_BY(mu_)
  std::uint64_t db_flushed_commits_ = 0;                                                 // GUARDED_BY(mu_)
  std::map<std::string, std::uint64_t, std::less<>> cuts_;                               // GUARDED_BY(mu_)
  std::atomic<std::int64_t> open_connections_{0};
  std::atomic<std::int64_t> accepted_connections_{0};
};

// Escapes a Prometheus label value.
std::string label_escape(const std::string& v);

}  // namespace atrium::obs
