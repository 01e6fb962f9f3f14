// Compute usage read from the jobs' own rows: allocated CPU-hours and GPU-hours (what quotas
// count) and measured CPU-hours, each run split over the UTC time buckets (days, ISO weeks or
// calendar months) it overlaps. GET /api/v1/me/usage (a user's, per project and day) and
// GET /api/v1/orgs/{org}/usage (an org's, per group, user or project and bucket).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "core/error.hpp"
#include "db/database.hpp"
#include "http/api.hpp"

namespace atrium::jobs {

class Service;

inline constexpr Millis kDayMs = 24LL * 3600 * 1000;

// One run of a job: what it held from start to end (end: now while it runs).
struct RunSpan {
  std::string key;  // what the usage is summed by: the job's project (or group, or user)
  Millis start = 0, end = 0;
  int cpus = 0, gpus = 0;
  std::optional<double> cpu_seconds;  // measured for the whole run, after it ended
};

// Runs that lie within one UTC day and inside the window, summed per key and day by the database
// (most runs: far fewer rows to read and hold than one per run).
struct DaySum {
  std::string key;
  Millis day = 0;  // UTC midnight
  double cpu_hours = 0, gpu_hours = 0, cpu_hours_used = 0;
};
// What a usage read returns: the day sums, and one span for each other run.
struct Runs {
  std::vector<RunSpan> spans;
  std::vector<DaySum> days;
};

// The runs of `user_id`'s jobs that overlap [from, to), keyed by project (store_usage.cpp).
Result<Runs> user_runs(db::Tx& tx, const std::string& user_id, Millis from, Millis to, Millis now);

// What an org's usage is summed by: the job's group, user or project (the jobs row's column).
enum class UsageBy { kGroup, kUser, kProject };
// The runs of the org's jobs that overlap [from, to), keyed by `by` (store_usage.cpp).
Result<Runs> org_runs(db::Tx& tx, const std::string& org_id, UsageBy by, Millis from, Millis to, Millis now);

// UTC time buckets: days, ISO weeks (from Monday) or calendar months.
enum class Bucket { kDay, kWeek, kMonth };
// The start of the bucket holding `t`, and the start of the next bucket after the one at `start`.
Millis bucket_start(Millis t, Bucket b);
Millis bucket_next(Millis start, Bucket b);

struct UsageCell {
  std::string key;  // RunSpan::key
  Millis day = 0;   // the bucket's start (UTC midnight)
  double cpu_hours = 0, gpu_hours = 0, cpu_hours_used = 0;
};

// Sums the runs per (key, bucket) within [from, to); a run's measured CPU time is spread over its
// buckets in proportion to its wall time. Sorted by bucket, then key; empty cells left out.
// Day sums go whole into the bucket holding their day (the caller made them within [from, to)).
std::vector<UsageCell> usage_by_bucket(const Runs& runs, Millis from, Millis to, Bucket b);
inline std::vector<UsageCell> usage_by_bucket(std::vector<RunSpan> spans, Millis from, Millis to, Bucket b) {
  return usage_by_bucket(Runs{std::move(spans), {}}, from, to, b);
}
inline std::vector<UsageCell> usage_by_day(std::vector<RunSpan> spans, Millis from, Millis to) {
  return usage_by_bucket(std::move(spans), from, to, Bucket::kDay);
}

// GET /api/v1/me/usage (routes_usage.cpp); GET /api/v1/orgs/{org}/usage and /fairshare
// (routes_org_usage.cpp).
void add_usage_routes(http::Api& api);
void add_org_usage_routes(http::Api& api, Service& service);

// A query time: an RFC 3339 timestamp, or a date (YYYY-MM-DD: its midnight UTC; for `to`, the
// midnight after it, so that to=<today> includes today). 400 with `field` when malformed.
Result<std::optional<Millis>> query_time(http::Context& ctx, const char* name, bool end_of_day);

}  // namespace atrium::jobs
