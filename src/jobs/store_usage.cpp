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

// Runs from rows of (key, start_ms, end_ms, alloc_cpus, alloc_gpus, cpu_seconds) that overlap
// [from, to): those that ended after `from`, and those still running (two ranges of one index).
Result<std::vector<RunSpan>> read_runs(db::Tx& tx, const std::string& key_col, const std::string& where,
                                       const std::string& subject, Millis from, Millis to, Millis now) {
  std::string select = "SELECT " + key_col + ", start_ms, end_ms, alloc_cpus, alloc_gpus, cpu_seconds FROM jobs WHERE " +
                       where + " AND start_ms IS NOT NULL AND alloc_cpus IS NOT NULL AND start_ms < ? AND ";
  auto rows = TRY(tx.query(select + "end_ms > ? UNION ALL " + select + "end_ms IS NULL", {subject, to, from, subject, to}));
  std::vector<RunSpan> out;
  out.reserve(rows.size());
  for (auto& r : rows) {
    RunSpan s;
    s.key = r.str(0);
    s.start = r.i64(1);
    s.end = r.is_null(2) ? now : r.i64(2);
    s.cpus = static_cast<int>(r.i64(3));
    s.gpus = gpu_count(r, 4);
    if (!r.is_null(5)) s.cpu_seconds = r.f64(5);
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace

Result<std::vector<RunSpan>> user_runs(db::Tx& tx, const std::string& user_id, Millis from, Millis to, Millis now) {
  return read_runs(tx, "project_id", "user_id = ?", user_id, from, to, now);
}

Result<std::vector<RunSpan>> org_runs(db::Tx& tx, const std::string& org_id, UsageBy by, Millis from, Millis to,
                                      Millis now) {
  const char* col = by == UsageBy::kGroup ? "group_id" : by == UsageBy::kUser ? "user_id" : "project_id";
  // jobs_org_runs (migration 12) holds every column read: an index range each, no table lookups.
  return read_runs(tx, col, "org_id = ?", org_id, from, to, now);
}

}  // namespace atrium::jobs
