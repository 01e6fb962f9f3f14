#include "obs/health.hpp"

#include <sys/statvfs.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include <fmt/format.h>

#include "obs/metrics.hpp"

namespace atrium::obs {
namespace {

const std::vector<Figure>& builtin_figures() {
  static const std::vector<Figure> figures = {
      {"requests_per_s", "1/s", "HTTP requests answered per second"},
      {"latency_p50_s", "s", "Median time from full request to response"},
      {"latency_p95_s", "s", "95th percentile of the time from full request to response"},
      {"latency_p99_s", "s", "99th percentile of the time from full request to response"},
      {"error_rate", "ratio", "Share of responses with status 500 or more"},
      {"db_time_s", "s", "Seconds spent in database statements per second"},
      {"open_connections", "count", "Open client connections"},
      {"rss_bytes", "bytes", "Resident memory of the server process"},
      {"disk_free_bytes", "bytes", "Free space (for unprivileged users) under the data directory"},
      {"disk_free_ratio", "ratio", "Share of the data directory's file system that is free"},
  };
  return figures;
}

bool valid_name(const std::string& n) {
  if (n.empty() || n[0] < 'a' || n[0] > 'z') return false;
  for (char c : n)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return true;
}

// The q-quantile of the observations counted in `d` (per bucket, Histogram::kBounds, the last one
// above every bound), interpolated linearly inside its bucket as Prometheus' histogram_quantile
// does: the first bucket starts at 0, and a quantile in the +Inf bucket is the highest bound.
double quantile(const std::vector<double>& d, double total, double q) {
  const auto& b = Histogram::kBounds;
  double rank = q * total, cum = 0;
  for (std::size_t i = 0; i < d.size(); ++i) {
    if (d[i] <= 0 || cum + d[i] < rank) {
      cum += d[i];
      continue;
    }
    if (i >= b.size()) return b.back();
    double lo = i == 0 ? 0.0 : b[i - 1];
    return lo + (b[i] - lo) * (rank - cum) / d[i];
  }
  return b.back();
}

std::optional<double> rss_bytes() {
  std::ifstream statm("/proc/self/statm");
  long size = 0, resident = 0;
  if (!(statm >> size >> resident)) return std::nullopt;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE));
}

void add_disk(const std::string& dir, Sample& s) {
  struct statvfs sv {};
  if (::statvfs(dir.c_str(), &sv) != 0 || sv.f_blocks == 0) return;
  double free = static_cast<double>(sv.f_bavail) * static_cast<double>(sv.f_frsize);
  s.values["disk_free_bytes"] = free;
  s.values["disk_free_ratio"] = static_cast<double>(sv.f_bavail) / static_cast<double>(sv.f_blocks);
}

// A HELP line's text: one line, backslashes escaped (Prometheus' text format).
std::string help_text(const Figure& f) {
  std::string out;
  for (char c : f.help + " (" + f.unit + ").") {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

}  // namespace

Health::Health(const Metrics& metrics, const Clock& clock, std::string data_dir, Millis period_ms,
               std::size_t capacity)
    : metrics_(metrics),
      clock_(clock),
      data_dir_(std::move(data_dir)),
      period_ms_(period_ms),
      capacity_(capacity == 0 ? 1 : capacity) {
  last_ = read_totals(clock_.now_ms());
}

void Health::add_gauge(Figure figure, std::function<std::optional<double>()> read) {
  std::lock_guard lock(mu_);
  bool taken = !valid_name(figure.name);
  for (auto& f : builtin_figures()) taken = taken || f.name == figure.name;
  for (auto& [f, _] : gauges_) taken = taken || f.name == figure.name;
  if (taken) {
    std::fprintf(stderr, "obs::Health: gauge name '%s' is malformed or taken\n", figure.name.c_str());
    std::abort();
  }
  gauges_.emplace_back(std::move(figure), std::move(read));
}

void Health::on_sample(std::function<void(const Sample&)> f) {
  std::lock_guard lock(mu_);
  listeners_.push_back(std::move(f));
}

Health::Totals Health::read_totals(Millis now) const {
  auto t = metrics_.totals();
  Totals out{.at = now,
             .requests = static_cast<double>(t.requests),
             .errors = static_cast<double>(t.errors),
             .db_seconds = t.db_seconds,
             .latency_buckets = {}};
  out.latency_buckets.assign(t.latency.begin(), t.latency.end());
  return out;
}

void Health::add_interval_figures(const Totals& now, Sample& s) const {
  if (!last_ || now.at <= last_->at) return;
  double dt = static_cast<double>(now.at - last_->at) / 1000.0;
  double n = now.requests - last_->requests;
  s.values["requests_per_s"] = n / dt;
  s.values["error_rate"] = n > 0 ? (now.errors - last_->errors) / n : 0.0;
  s.values["db_time_s"] = (now.db_seconds - last_->db_seconds) / dt;
  if (n <= 0) return;  // no latency without requests
  std::vector<double> d(now.latency_buckets.size());
  for (std::size_t i = 0; i < d.size(); ++i) d[i] = now.latency_buckets[i] - last_->latency_buckets[i];
  s.values["latency_p50_s"] = quantile(d, n, 0.50);
  s.values["latency_p95_s"] = quantile(d, n, 0.95);
  s.values["latency_p99_s"] = quantile(d, n, 0.99);
}

void Health::sample() {
  Millis now = clock_.now_ms();
  Totals totals = read_totals(now);
  Sample s{.at = now, .values = {}};
  s.values["open_connections"] = static_cast<double>(metrics_.open_connections());
  if (auto r = rss_bytes()) s.values["rss_bytes"] = *r;
  add_disk(data_dir_, s);
  decltype(gauges_) gauges;
  {
    std::lock_guard lock(mu_);
    gauges = gauges_;
  }
  for (auto& [f, read] : gauges) {  // outside the lock: a gauge may take a while (the database)
    std::optional<double> v;
    try {
      v = read();
    } catch (...) {  // a gauge that fails is unknown this time; the others still count
    }
    if (v && std::isfinite(*v)) s.values[f.name] = *v;
  }
  decltype(listeners_) listeners;
  {
    std::lock_guard lock(mu_);
    add_interval_figures(totals, s);
    last_ = std::move(totals);
    if (ring_.size() < capacity_) {
      ring_.push_back(s);
    } else {
      ring_[next_] = s;
    }
    next_ = (next_ + 1) % capacity_;
    listeners = listeners_;
  }
  for (auto& f : listeners) f(s);
}

std::vector<Figure> Health::figures() const {
  std::vector<Figure> out = builtin_figures();
  std::lock_guard lock(mu_);
  for (auto& [f, _] : gauges_) out.push_back(f);
  return out;
}

std::vector<Sample> Health::since(Millis from) const {
  std::lock_guard lock(mu_);
  std::vector<Sample> out;
  // The oldest is at next_ once the ring is full, else at 0.
  std::size_t start = ring_.size() < capacity_ ? 0 : next_;
  for (std::size_t k = 0; k < ring_.size(); ++k) {
    const Sample& s = ring_[(start + k) % ring_.size()];
    if (s.at > from) out.push_back(s);
  }
  return out;
}

std::optional<Sample> Health::latest() const {
  std::lock_guard lock(mu_);
  if (ring_.empty()) return std::nullopt;
  return ring_[(next_ + capacity_ - 1) % capacity_];
}

std::string Health::render() const {
  auto s = latest();
  if (!s) return {};
  std::string out;
  for (auto& f : figures()) {
    auto it = s->values.find(f.name);
    if (it == s->values.end()) continue;
    std::string name = "atrium_health_" + f.name;
    out += fmt::format("# HELP {} {}\n# TYPE {} gauge\n{} {}\n", name, help_text(f), name, name, it->second);
  }
  return out;
}

}  // namespace atrium::obs
