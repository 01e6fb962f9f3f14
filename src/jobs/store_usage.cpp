// The jobs rows GET /api/v1/me/usage reads (declared in jobs/usage.hpp).
#include "jobs/usage.hpp"

#include <nlohmann/json.hpp>

namespace atrium::jobs {

Result<std::vector<RunSpan>> user_runs(db::Tx& tx, const std::string& user_id, Millis from, Millis to, Millis now) {
  auto rows = TRY(tx.query(
      "SELECT project_id, start_ms, end_ms, alloc_cpus, alloc_gpus, cpu_seconds FROM jobs "
      "WHERE user_id = ? AND start_ms IS NOT NULL AND alloc_cpus IS NOT NULL AND start_ms < ? "
      "AND (end_ms IS NULL OR end_ms > ?) ORDER BY id",
      {user_id, to, from}));
  std::vector<RunSpan> out;
  out.reserve(rows.size());
  for (auto& r : rows) {
    RunSpan s;
    s.project_id = r.str(0);
    s.start = r.i64(1);
    s.end = r.is_null(2) ? now : r.i64(2);
    s.cpus = static_cast<int>(r.i64(3));
    auto gpus = nlohmann::json::parse(r.is_null(4) ? std::string("[]") : r.str(4), nullptr, false);
    s.gpus = gpus.is_array() ? static_cast<int>(gpus.size()) : 0;
    if (!r.is_null(5)) s.cpu_seconds = r.f64(5);
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace atrium::jobs
