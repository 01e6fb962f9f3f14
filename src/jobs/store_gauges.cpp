// The queue's figures for the server's health gauges (and the alerts on them): one indexed pass
// over the active jobs (jobs_active) and one over the ends of the last day.
#include <algorithm>

#include "jobs/store.hpp"

namespace atrium::jobs {

Result<QueueFigures> queue_figures(db::Tx& tx, Millis now, const QueueFigureSettings& s) {
  // The queue's normal: the mean wait of the jobs that ran and ended in the last day (jobs_ended).
  auto w = TRY(tx.query_one("SELECT AVG(start_ms - submit_ms) FROM jobs WHERE end_ms > ? AND start_ms IS NOT NULL",
                            {now - 24LL * 3600 * 1000}));
  Millis normal = w && !w->is_null(0) ? static_cast<Millis>(w->f64(0)) : 0;
  Millis too_long = std::max(s.pending_floor_ms, normal * s.pending_factor);
  auto r = TRY(tx.query_one(
      "SELECT COALESCE(SUM(CASE WHEN state = 'PENDING' THEN 1 ELSE 0 END), 0),"
      " COALESCE(SUM(CASE WHEN state = 'RUNNING' AND start_ms IS NOT NULL AND time_limit_ms > 0"
      "   AND start_ms + time_limit_ms + ? < ? THEN 1 ELSE 0 END), 0),"
      // Pending reasons live in memory, not in the row: a job waiting on a dependency is known by
      // its `dependency`, one with a begin time waits from then.
      " COALESCE(SUM(CASE WHEN state = 'PENDING' AND held = 0 AND dependency = ''"
      "   AND (CASE WHEN begin_ms IS NOT NULL AND begin_ms > submit_ms THEN begin_ms ELSE submit_ms END) < ?"
      "   THEN 1 ELSE 0 END), 0)"
      " FROM jobs WHERE state IN ('PENDING', 'RUNNING')",
      {s.grace_ms, now, now - too_long}));
  if (!r) return QueueFigures{};
  return QueueFigures{.pending = r->i64(0), .stuck_running = r->i64(1), .stuck_pending = r->i64(2)};
}

}  // namespace atrium::jobs
