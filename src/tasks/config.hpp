// The [tasks] section: the background task queue (app/ turns it into tasks::Settings).
#pragma once

#include <cstdint>

#include "core/config.hpp"
#include "tasks/tasks.hpp"

namespace atrium::tasks {

struct Config {
  int workers = 2;            // tasks that run at once
  int lease_s = 60;           // a running task whose worker stopped answering is retried after this
  int backoff_base_ms = 1000; // first retry after about this; each retry waits twice as long
  int backoff_max_s = 3600;   // longest wait between retries
  int keep_done_days = 7;     // succeeded tasks are deleted after this; dead ones stay
};

void declare(config::Registry& r, Config& c);
Settings settings_from(const Config& c);

}  // namespace atrium::tasks
