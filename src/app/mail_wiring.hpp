// app/: outbound mail wired to the task queue, and the modules whose changes are notified by mail
// (jobs' ends, environments' cull warnings, quotas nearly used up).
#pragma once

#include <functional>
#include <string>

#include "app/config.hpp"
#include "core/clock.hpp"
#include "db/database.hpp"
#include "envs/service.hpp"
#include "jobs/service.hpp"
#include "quota/quota.hpp"
#include "tasks/tasks.hpp"

namespace atrium::app {

// Configures mail from [mail] (reads the password file) and registers "mail.send" with the queue.
Status setup_mail(const Settings& c, db::Database& db, const Clock& clock, tasks::Queue& queue,
                  std::function<std::string()> public_url);
// Jobs' and environments' hooks that queue their notifications.
void connect_job_notifications(jobs::Settings& js);
void connect_env_notifications(const Settings& c, envs::Settings& es);
// The periodic quota check ("mail.quota_check", every [mail] quota_check_minutes): registered with
// the queue, and its first run queued. `quotas` outlives the queue.
Status schedule_quota_checks(const Settings& c, db::Database& db, const Clock& clock, tasks::Queue& queue,
                             const quota::Registry& quotas);

}  // namespace atrium::app
