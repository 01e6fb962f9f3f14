#include "tasks/config.hpp"

namespace atrium::tasks {

void declare(config::Registry& r, Config& c) {
  r.section("tasks", c)
      .integer("workers", "background tasks that run at once", &Config::workers, 1, 256)
      .integer("lease_s", "seconds after which a task whose worker stopped is run again", &Config::lease_s, 5, 86400)
      .integer("backoff_base_ms", "wait before a failed task's first retry (doubles each retry)",
               &Config::backoff_base_ms, 1, 3600'000)
      .integer("backoff_max_s", "longest wait between retries of a task", &Config::backoff_max_s, 1, 7 * 86400)
      .integer("keep_done_days", "days succeeded tasks are kept (dead ones stay until an admin acts)",
               &Config::keep_done_days, 0, 3650);
}

Settings settings_from(const Config& c) {
  return {.workers = c.workers,
          .lease_ms = Millis{c.lease_s} * 1000,
          .backoff_base_ms = c.backoff_base_ms,
          .backoff_max_ms = Millis{c.backoff_max_s} * 1000,
          .keep_done_ms = Millis{c.keep_done_days} * 24 * 3600 * 1000};
}

}  // namespace atrium::tasks
