// The jobs rows the usage routes read (declared in jobs/usage.hpp).
#include "jobs/usage.hpp"

#include <algorithm>

namespace atrium::jobs {
namespace {

// The number of GPUs in an allocation's JSON list of device indices ("[]", "[0,1]").
int gpu_count(const db::Row& r, std::size_t col) {
  const auto* s = std::get_if<std::string>(&r.at(col));
  if (!s || s->find_first_not_of("[] \t") == std::string::npos) return 0;
  return static_cast<int>(std::count(s->begin(), s->end(), ',')) + 1;
}

// The runs of the jobs `where` (one parameter: `subject`) selects that overlap [from, to), keyed
// by `key_col`: those within one UTC day and the window summed per (key, day, GPUs) by the database,
// the others (across midnight or the window's edges, still running) one row each. Every range is
// one of jobs_org_runs's (org_id, end_ms) for an org.
Result<Runs> read_runs(db::Tx& tx, const std::string& key_col, const std::string& where, const std::string& subject,
                       Millis from, Millis to, Millis now) {
  const std::string base = " FROM jobs WHERE " + where + " AND start_ms IS NOT NULL AND alloc_cpus IS NOT NULL AND ";
  const std::string one_day = "start_ms >= ? AND end_ms <= ? AND end_ms > start_ms AND start_ms / 86400000 = (end_ms - 1) / 86400000";
  Runs out;
  auto sums = TRY(tx.query("SELECT " + key_col +
                               ", start_ms / 86400000, alloc_gpus, SUM(alloc_cpus * (end_ms - start_ms)), "
                               "SUM(end_ms - start_ms), SUM(cpu_seconds)" +
                               base + "end_ms > ? AND start_ms < ? AND " + one_day + " GROUP BY 1, 2, 3",
                           {subject, from, to, from, to}));
  out.days.reserve(sums.size());
  for (auto& r : sums) {
    DaySum d{r.str(0), r.i64(1) * kDayMs};
    d.cpu_hours = static_cast<double>(r.i64(3)) / 3'600'000.0;
    d.gpu_hours = gpu_count(r, 2) * static_cast<double>(r.i64(4)) / 3'600'000.0;
    d.cpu_hours_used = r.is_null(5) ? 0.0 : r.f64(5) / 3600.0;
    out.days.push_back(std::move(d));
  }
  std::string select = "SELECT " + key_col + ", start_ms, end_ms, alloc_cpus, alloc_gpus, cpu_seconds" + base + "start_ms < ? AND ";
  auto rows = TRY(tx.query(select + "end_ms > ? AND NOT (" + one_day + ") UNION ALL " + select + "end_ms IS NULL",
                           {subject, to, from, from, to, subject, to}));
  out.spans.reserve(rows.size());
  for (auto& r : rows) {
    RunSpan s;
    s.key = r.str(0);
    s.start = r.i64(1);
    s.end = r.is_null(2) ? now : r.i64(2);
    s.cpus = static_cast<int>(r.i64(3));
    s.gpus = gpu_count(r, 4);
    if (!r.is_null(5)) s.cpu_seconds = r.f64(5);
    out.spans.push_back(std::move(s));
  }
  return out;
}

}  // namespace

Result<Runs> user_runs(db::Tx& tx, const std::string& user_id, Millis from, Millis to, Millis now) {
  return read_runs(tx, "project_id", "user_id = ?", user_id, from, to, now);
}

Result<Runs> org_runs(db::Tx& tx, const std::string& org_id, UsageBy by, Millis from, Millis to, Millis now) {
  const char* col = by == UsageBy::kGroup ? "group_id" : by == UsageBy::kUser ? "user_id" : "project_id";
  // jobs_org_runs (migration 12) holds every column read: index ranges, no table lookups.
  return read_runs(tx, col, "org_id = ?", org_id, from, to, now);
}

}  // namespace atrium::jobs
