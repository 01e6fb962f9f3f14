// app/: outbound mail wired to the task queue, and the modules whose changes are notified by mail
// (jobs' ends, environments' cull warnings, quotas nearly used up).
#pragma once

#include <functional>
#include <string>

#include "app/config.hpp"
#include "core/clock.hpp"
#include "db/database.hpp"
#include "envs/service.hpp"
#include "http/api.hpp"
#include "identity/auth.hpp"
#include "jobs/service.hpp"
#include "quota/quota.hpp"
#include "tasks/tasks.hpp"

namespace atrium::app {

// Configures mail from [mail] (reads the password file), registers "mail.send" with the queue and
// connects jobs' ends to their notifications. Links use auth.public_url (known once bound).
Status setup_mail(const Settings& c, db::Database& db, const Clock& clock, tasks::Queue& queue,
                  const identity::AuthSettings& auth, jobs::Settings& js, std::string payload_key);
// The environments' settings, with their cull warnings ([envs] cull_warning_s) mailed to their owners.
envs::Settings env_settings(const Settings& c, std::vector<std::string> outbound_allow, const envs::Origins& origins,
                            data::Service* data);
// GET/PUT /api/v1/me/notifications, and the periodic quota check ("mail.quota_check", every [mail]
// quota_check_minutes): registered with the queue, its first run queued. `quotas` outlives the queue.
Status add_mail_routes_and_checks(const Settings& c, http::Api& api, db::Database& db, const Clock& clock,
                                  tasks::Queue& queue, const quota::Registry& quotas);

}  // namespace atrium::app
