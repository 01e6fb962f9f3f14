// Notifications by mail, each respecting the recipient's preference (store.hpp) and keyed so that
// it is sent once: a job's end, an environment about to be culled, a quota nearly used up.
// Each is queued in the caller's transaction (the one that makes the change it reports).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "core/error.hpp"
#include "db/database.hpp"
#include "quota/quota.hpp"

namespace atrium::mail {

// A job's `notify` (submission field): when its end is mailed to its owner.
enum class JobNotify { kNever, kFailure, kEnd };
// "never" | "failure" | "end"; nullopt for anything else.
std::optional<JobNotify> parse_job_notify(std::string_view s);

struct JobEnded {
  std::string user_id, job_id, job_name, state, cause;
  int requeue_count = 0;  // a requeued job that ends again is a new end
  bool succeeded = false; // COMPLETED
  bool cancelled = false; // CANCELLED: an end, not a failure
};
// Queues the mail when `notify` asks for this end and the owner wants job mails.
Status notify_job_end(db::Tx& tx, JobNotify notify, const JobEnded& e, Millis now);

struct EnvCullWarning {
  std::string user_id, env_id, env_name, reason;
  Millis stop_at = 0;
};
Status notify_env_cull(db::Tx& tx, const EnvCullWarning& w, Millis now);

// Who hears about a quota: the user of a user quota; for a group or org quota, app/ says (the
// org's admins). Ids of users.
using QuotaRecipients = std::function<Result<std::vector<std::string>>(db::Tx&, const quota::Subject&)>;
// Looks at every storage and CPU-hours quota: one that is at 90 % or more gets one mail per
// recipient per period (the quota's CPU period; 30 days for storage). Returns how many were queued.
Result<int> check_quotas(db::Tx& tx, const quota::Registry& reg, const QuotaRecipients& who, Millis now);

}  // namespace atrium::mail
