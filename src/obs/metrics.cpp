#include "obs/metrics.hpp"

#include <unistd.h>

#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace atrium::obs {

void Histogram::observe(double v) {
  std::size_t i = 0;
  while (i < kBounds.size() && v > kBounds[i]) ++i;
  ++counts_[i];
  sum_ += v;
  ++count_;
}

void Histogram::render(std::string& out, const std::string& name, const std::string& labels) const {
  std::uint64_t cum = 0;
  std::string sep = labels.empty() ? "" : ",";
  for (std::size_t i = 0; i < kBounds.size(); ++i) {
    cum += counts_[i];
    out += fmt::format("{}_bucket{{{}{}le=\"{}\"}} {}\n", name, labels, sep, kBounds[i], cum);
  }
  cum += counts_[kBounds.size()];
  out += fmt::format("{}_bucket{{{}{}le=\"+Inf\"}} {}\n", name, labels, sep, cum);
  std::string lb = labels.empty() ? "" : "{" + labels + "}";
  out += fmt::format("{}_sum{} {}\n{}_count{} {}\n", name, lb, sum_, name, lb, count_);
}

std::string label_escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') { out += "\\n"; continue; }
    out += c;
  }
  return out;
}

void Metrics::observe_request(std::string_view route, std::string_view method, int status, double seconds) {
  std::size_t m = kMethods.size() - 1;
  for (std::size_t i = 0; i + 1 < kMethods.size(); ++i)
    if (method == kMethods[i]) m = i;
  std::lock_guard lock(mu_);
  auto it = routes_.find(route);
  if (it == routes_.end()) it = routes_.emplace(std::string(route), std::array<MethodStats, kMethods.size()>{}).first;
  MethodStats& s = it->second[m];
  s.used = true;
  ++s.by_status[status];
  s.latency.observe(seconds);
  all_latency_.observe(seconds);
  if (status >= 500) ++errors_;
}

Totals Metrics::totals() const {
  std::lock_guard lock(mu_);
  Totals t;
  t.latency = all_latency_.counts();
  for (auto n : t.latency) t.requests += n;
  t.errors = errors_;
  t.db_seconds = db_.sum();
  return t;
}

void Metrics::connection_cut(std::string_view reason) {
  std::lock_guard lock(mu_);
  auto it = cuts_.find(reason);
  if (it == cuts_.end()) it = cuts_.emplace(std::string(reason), 0).first;
  ++it->second;
}

void Metrics::observe_db(double seconds) {
  std::lock_guard lock(mu_);
  db_.observe(seconds);
}

void Metrics::observe_db_flush(double seconds, std::uint64_t commits) {
  std::lock_guard lock(mu_);
  db_flush_.observe(seconds);
  db_flushed_commits_ += commits;
}

std::string Metrics::render() const {
  std::string out;
  {
    std::lock_guard lock(mu_);
    out += "# HELP atrium_http_requests_total HTTP requests by route pattern, method and status.\n";
    out += "# TYPE atrium_http_requests_total counter\n";
    for (auto& [route, methods] : routes_)
      for (std::size_t m = 0; m < kMethods.size(); ++m)
        for (auto& [status, n] : methods[m].by_status)
          out += fmt::format("atrium_http_requests_total{{route=\"{}\",method=\"{}\",status=\"{}\"}} {}\n",
                             label_escape(route), kMethods[m], status, n);
    out += "# HELP atrium_http_request_duration_seconds Time from full request to response, by route.\n";
    out += "# TYPE atrium_http_request_duration_seconds histogram\n";
    for (auto& [route, methods] : routes_)
      for (std::size_t m = 0; m < kMethods.size(); ++m)
        if (methods[m].used)
          methods[m].latency.render(out, "atrium_http_request_duration_seconds",
                                    fmt::format("route=\"{}\",method=\"{}\"", label_escape(route), kMethods[m]));
    out += "# HELP atrium_db_query_duration_seconds Time spent in database statements.\n";
    out += "# TYPE atrium_db_query_duration_seconds histogram\n";
    db_.render(out, "atrium_db_query_duration_seconds", "");
    out += "# HELP atrium_db_flush_duration_seconds Group-commit flushes (fdatasync) of the database log.\n";
    out += "# TYPE atrium_db_flush_duration_seconds histogram\n";
    db_flush_.render(out, "atrium_db_flush_duration_seconds", "");
    out += "# HELP atrium_db_flushed_commits_total Commits made durable by those flushes (commits per flush = group size).\n";
    out += "# TYPE atrium_db_flushed_commits_total counter\n";
    out += fmt::format("atrium_db_flushed_commits_total {}\n", db_flushed_commits_);
    if (!cuts_.empty()) {
      out += "# HELP atrium_http_connections_cut_total Connections refused or closed by a limit, by reason.\n";
      out += "# TYPE atrium_http_connections_cut_total counter\n";
      for (auto& [reason, n] : cuts_)
        out += fmt::format("atrium_http_connections_cut_total{{reason=\"{}\"}} {}\n", label_escape(reason), n);
    }
  }
  out += "# HELP atrium_http_open_connections Open client connections.\n";
  out += "# TYPE atrium_http_open_connections gauge\n";
  out += fmt::format("atrium_http_open_connections {}\n", open_connections_.load());
  out += "# HELP atrium_http_connections_total Accepted client connections.\n";
  out += "# TYPE atrium_http_connections_total counter\n";
  out += fmt::format("atrium_http_connections_total {}\n", accepted_connections_.load());

  // Process figures from /proc (Linux).
  long page = sysconf(_SC_PAGESIZE), ticks = sysconf(_SC_CLK_TCK);
  std::ifstream statm("/proc/self/statm");
  long size = 0, resident = 0;
  if (statm >> size >> resident) {
    out += "# HELP process_resident_memory_bytes Resident memory size in bytes.\n";
    out += "# TYPE process_resident_memory_bytes gauge\n";
    out += fmt::format("process_resident_memory_bytes {}\n", resident * page);
    out += "# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n";
    out += "# TYPE process_virtual_memory_bytes gauge\n";
    out += fmt::format("process_virtual_memory_bytes {}\n", size * page);
  }
  std::ifstream stat("/proc/self/stat");
  std::string line;
  if (std::getline(stat, line)) {
    auto rp = line.rfind(')');
    std::istringstream rest(line.substr(rp + 2));
    std::string f;
    long utime = 0, stime = 0, threads = 0;
    for (int i = 3; i <= 20 && rest >> f; ++i) {
      if (i == 14) utime = std::stol(f);
      if (i == 15) stime = std::stol(f);
      if (i == 20) threads = std::stol(f);
    }
    out += "# HELP process_cpu_seconds_total User and system CPU time spent in seconds.\n";
    out += "# TYPE process_cpu_seconds_total counter\n";
    out += fmt::format("process_cpu_seconds_total {}\n", static_cast<double>(utime + stime) / ticks);
    out += "# HELP process_threads Threads in the process.\n# TYPE process_threads gauge\n";
    out += fmt::format("process_threads {}\n", threads);
  }
  for (auto& f : sources_) out += f();
  return out;
}

}  // namespace atrium::obs
