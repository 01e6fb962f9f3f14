#include "mail/notify.hpp"

#include <cmath>

#include <fmt/format.h>

#include "mail/mail.hpp"
#include "mail/store.hpp"

namespace atrium::mail {

// mail.cpp: the hooks app/ set (configure).
Result<std::string> email_of_user(db::Tx& tx, const std::string& user_id);

namespace {

using nlohmann::json;

std::string format_utc(Millis at) {
  std::time_t t = static_cast<std::time_t>(at / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", &tm);
  return buf;
}

// Queues `name` to `user_id` when they have an address and want `kind`.
Status to_user(db::Tx& tx, const std::string& user_id, const std::string& kind, const std::string& name, json vars,
               const std::string& key, Millis now) {
  if (!enabled()) return {};
  auto locale = TRY(mail_locale_if_wanted(tx, user_id, kind));
  if (!locale) return {};
  std::string to = TRY(email_of_user(tx, user_id));
  if (to.empty()) return {};
  auto id = enqueue(tx, Message{.to = to, .template_name = name, .locale = *locale, .vars = vars, .key = key}, now);
  // A user's stored address that is not one SMTP takes is no reason to fail their job's end.
  if (!id && id.error().code == ErrorCode::kInvalidArgument) return {};
  if (!id) return std::unexpected(id.error());
  return {};
}

}  // namespace

std::optional<JobNotify> parse_job_notify(std::string_view s) {
  if (s == "never") return JobNotify::kNever;
  if (s == "failure") return JobNotify::kFailure;
  if (s == "end") return JobNotify::kEnd;
  return std::nullopt;
}

Status notify_job_end(db::Tx& tx, JobNotify notify, const JobEnded& e, Millis now) {
  if (notify == JobNotify::kNever) return {};
  bool failed = !e.succeeded && !e.cancelled;
  if (notify == JobNotify::kFailure && !failed) return {};
  json vars = {{"job_name", e.job_name.empty() ? e.job_id : e.job_name},
               {"job_id", e.job_id},
               {"state", e.state},
               {"cause", e.cause.empty() ? e.state : e.cause},
               {"link", "/jobs/" + e.job_id}};
  return to_user(tx, e.user_id, "job_end", failed ? "job_failed" : "job_ended", vars,
                 fmt::format("job-end:{}:{}", e.job_id, e.requeue_count), now);
}

Status notify_env_cull(db::Tx& tx, const EnvCullWarning& w, Millis now) {
  json vars = {{"env_name", w.env_name.empty() ? w.env_id : w.env_name},
               {"env_id", w.env_id},
               {"reason", w.reason},
               {"stop_at", format_utc(w.stop_at)},
               {"link", "/envs"}};
  // Keyed by the planned stop: activity that moves it, then idleness again, warns again.
  return to_user(tx, w.user_id, "env_cull_warning", "env_cull_warning", vars,
                 fmt::format("env-cull:{}:{}", w.env_id, w.stop_at / 1000), now);
}

Result<int> check_quotas(db::Tx& tx, const quota::Registry& reg, const QuotaRecipients& who, Millis now) {
  if (!enabled()) return 0;
  int queued = 0;
  for (auto& q : TRY(quota::list_all(tx))) {
    struct Check {
      const char* kind;
      std::optional<std::int64_t> limit;
      Millis period;
    };
    Millis day = 86'400'000;
    Check checks[] = {{"storage_bytes", q.limits.storage_bytes, 30 * day},
                      {"cpu_hours", q.limits.cpu_hours, q.limits.cpu_period_days.value_or(30) * day}};
    json usage;
    for (auto& c : checks) {
      if (!c.limit || *c.limit <= 0) continue;
      if (usage.is_null()) usage = TRY(reg.usage(tx, q.subject));
      double used = usage.contains(c.kind) && usage[c.kind].is_number() ? usage[c.kind].get<double>() : 0;
      double pct = 100.0 * used / static_cast<double>(*c.limit);
      if (pct < 90) continue;
      bool bytes = std::string_view(c.kind) == "storage_bytes";
      auto amount = [&](double v) {
        return bytes ? fmt::format("{:.1f} GiB", v / (1024.0 * 1024 * 1024)) : fmt::format("{:.1f} CPU-hours", v);
      };
      json vars = {{"resource", bytes ? "storage" : "CPU-hours"},
                   {"used", amount(used)},
                   {"limit", amount(static_cast<double>(*c.limit))},
                   {"percent", static_cast<int>(std::floor(pct))},
                   {"subject", q.subject.kind == "user" ? std::string("your account")
                                                        : "the " + q.subject.kind + " " + q.subject.id},
                   {"link", "/me/usage"}};
      std::string period = std::to_string(now / c.period);
      for (auto& user : TRY(who(tx, q.subject))) {
        std::string key = fmt::format("quota:{}:{}:{}:{}:{}:{}", q.subject.org_id, q.subject.kind, q.subject.id,
                                      c.kind, period, user);
        TRY_STATUS(to_user(tx, user, "quota_near_limit", "quota_near_limit", vars, key, now));
        ++queued;
      }
    }
  }
  return queued;
}

}  // namespace atrium::mail
