// A user's compute usage per project and day (GET /api/v1/me/usage), read from the jobs' own rows:
// allocated CPU-hours and GPU-hours (what quotas count) and measured CPU-hours, each run split
// over the UTC days it overlaps.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "core/error.hpp"
#include "db/database.hpp"
#include "http/api.hpp"

namespace atrium::jobs {

inline constexpr Millis kDayMs = 24LL * 3600 * 1000;

// One run of a job: what it held from start to end (end: now while it runs).
struct RunSpan {
  std::string project_id;
  Millis start = 0, end = 0;
  int cpus = 0, gpus = 0;
  std::optional<double> cpu_seconds;  // measured for the whole run, after it ended
};

// The runs of `user_id`'s jobs that overlap [from, to) (store_usage.cpp).
Result<std::vector<RunSpan>> user_runs(db::Tx& tx, const std::string& user_id, Millis from, Millis to, Millis now);

struct UsageCell {
  std::string project_id;
  Millis day = 0;  // the bucket's start (UTC midnight)
  double cpu_hours = 0, gpu_hours = 0, cpu_hours_used = 0;
};

// Sums the runs per (project, day) within [from, to); a run's measured CPU time is spread over its
// days in proportion to its wall time. Sorted by day, then project; empty cells left out.
std::vector<UsageCell> usage_by_day(const std::vector<RunSpan>& runs, Millis from, Millis to);

// GET /api/v1/me/usage.
void add_usage_routes(http::Api& api);

}  // namespace atrium::jobs
