#include "app/alerts_wiring.hpp"

#include <cstdio>
#include <mutex>

#include <spdlog/spdlog.h>

#include "jobs/store.hpp"

namespace atrium::app {
namespace {

// The job queue's figures, read once per sample for its three gauges (they are read one after the
// other, on the pool, within the same sample).
class QueueGauges {
 public:
  QueueGauges(db::Database& db, const Clock& clock) : db_(db), clock_(clock) {}

  std::optional<double> read(std::int64_t jobs::QueueFigures::*field) {
    std::lock_guard lock(mu_);
    Millis now = clock_.now_ms();
    if (!last_ || now - at_ >= 1000) {
      auto f = db_.read([&](db::Tx& tx) { return jobs::queue_figures(tx, now); });
      if (!f) {
        spdlog::warn("alerts: the job queue's figures: {}", f.error().detail);
        last_.reset();
        return std::nullopt;
      }
      last_ = *f;
      at_ = now;
    }
    return static_cast<double>((*last_).*field);
  }

 private:
  db::Database& db_;
  const Clock& clock_;
  std::mutex mu_;
  std::optional<jobs::QueueFigures> last_;  // GUARDED_BY(mu_)
  Millis at_ = 0;                           // GUARDED_BY(mu_)
};

void add_queue_gauges(db::Database& db, const Clock& clock, obs::Health& health) {
  auto q = std::make_shared<QueueGauges>(db, clock);
  health.add_gauge({"jobs_pending", "count", "jobs waiting to start"},
                   [q] { return q->read(&jobs::QueueFigures::pending); });
  health.add_gauge({"jobs_stuck_running", "count", "jobs running more than 10 minutes past their time limit"},
                   [q] { return q->read(&jobs::QueueFigures::stuck_running); });
  health.add_gauge({"jobs_stuck_pending", "count",
                    "jobs pending (not held, no dependency or begin time) over 10x the last day's mean wait, "
                    "and at least an hour"},
                   [q] { return q->read(&jobs::QueueFigures::stuck_pending); });
}

}  // namespace

std::unique_ptr<alerts::Service> add_alerts(db::Database& db, const Clock& clock, http::Api& api, obs::Health& health,
                                            tasks::Queue& queue, const data::MasterKey& key,
                                            const std::string& public_url) {
  if (auto st = db.migrate("alerts", alerts::migrations()); !st) {
    std::fprintf(stderr, "atrium: alerts: %s\n", st.error().detail.c_str());
    std::fflush(stderr);
    std::_Exit(2);
  }
  add_queue_gauges(db, clock, health);
  auto svc = std::make_unique<alerts::Service>(
      db, clock, alerts::Settings{.key = key.derive("alerts"), .public_url = [&public_url] { return public_url; }},
      [&health] { return health.figures(); });
  svc->add_tasks(queue);
  alerts::add_routes(api, *svc);
  health.on_sample([s = svc.get()](const obs::Sample& sample) {
    if (auto st = s->evaluate(sample); !st) spdlog::warn("alerts: evaluating the rules: {}", st.error().detail);
  });
  return svc;
}

}  // namespace atrium::app
