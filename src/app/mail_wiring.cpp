#include "app/mail_wiring.hpp"

#include <spdlog/spdlog.h>

#include "identity/orgs.hpp"
#include "identity/store.hpp"
#include "mail/mail.hpp"
#include "mail/notify.hpp"
#include "mail/routes.hpp"

namespace atrium::app {
namespace {

using nlohmann::json;

constexpr const char* kQuotaCheck = "mail.quota_check";

// Who hears about a quota: the user of a user quota; the org's admins for an org or group quota.
Result<std::vector<std::string>> quota_recipients(db::Tx& tx, const quota::Subject& s) {
  if (s.kind == "user") return std::vector<std::string>{s.id};
  std::vector<std::string> out;
  std::string after;
  while (true) {
    json page = TRY(identity::list_members(tx, s.org_id, after, 200));
    for (auto& m : page) {
      if (m.value("role_id", "") == "role_org-admin") out.push_back(m.value("user_id", ""));
      after = m.value("user_id", "");
    }
    if (page.size() < 200) return out;
  }
}

Status enqueue_quota_check(db::Tx& tx, Millis slot, Millis interval, Millis now) {
  TRY(tasks::enqueue(tx,
                     {.kind = kQuotaCheck,
                      .key = "quota-check:" + std::to_string(slot),
                      .payload = {{"slot", slot}},
                      .max_attempts = 3,
                      .not_before = slot * interval},
                     now));
  return {};
}

}  // namespace

Status setup_mail(const Settings& c, db::Database& db, const Clock& clock, tasks::Queue& queue,
                  const identity::AuthSettings& auth, jobs::Settings& js, std::string payload_key) {
  auto s = TRY(mail::settings_from(c.mail));
  s.key = std::move(payload_key);
  s.public_url = [&auth] { return auth.public_url; };
  s.email_of = [](db::Tx& tx, const std::string& user_id) -> Result<std::string> {
    auto u = TRY(identity::find_user(tx, user_id));
    return u && !u->disabled ? u->email : std::string();
  };
  mail::configure(db, clock, std::move(s));
  queue.handle(mail::kSendKind, mail::send_handler());
  if (mail::enabled())
    spdlog::info("mail: via {} as {}", c.mail.smtp_url, c.mail.from);
  else
    spdlog::info("mail: off ([mail] smtp_url is not set)");
  js.on_end = [](db::Tx& tx, const compute::Job& j, const compute::Transition& t, const std::string& notify) -> Status {
    auto n = mail::parse_job_notify(notify);
    if (!n) return {};
    return mail::notify_job_end(tx, *n,
                                {.user_id = j.assoc.user,
                                 .job_id = j.id,
                                 .job_name = j.name,
                                 .state = std::string(compute::state_name(t.to)),
                                 .cause = t.cause,
                                 .requeue_count = j.requeue_count,
                                 .succeeded = t.to == compute::JobState::kCompleted,
                                 .cancelled = t.to == compute::JobState::kCancelled},
                                t.at);
  };
  return {};
}

envs::Settings env_settings(const Settings& c, std::vector<std::string> outbound_allow, const envs::Origins& origins,
                            data::Service* data) {
  envs::Settings es{.data_dir = c.server.data_dir, .outbound_allow = std::move(outbound_allow), .origins = &origins};
  es.data = data;
  es.files_sync_interval = Millis{c.envs.files_sync_s} * 1000;
  es.warn_before = Millis{c.envs.cull_warning_s} * 1000;
  es.on_cull_warning = [](db::Tx& tx, const envs::EnvRecord& e, const std::string& reason, Millis stop_at,
                          Millis now) -> Status {
    std::string why = reason.ends_with("idle") ? "it has been idle" : "it reaches its maximum uptime";
    return mail::notify_env_cull(tx, {.user_id = e.user_id, .env_id = e.id, .env_name = e.app, .reason = why,
                                      .stop_at = stop_at},
                                 now);
  };
  return es;
}

Status add_mail_routes_and_checks(const Settings& c, http::Api& api, db::Database& db, const Clock& clock,
                                  tasks::Queue& queue, const quota::Registry& quotas) {
  mail::add_routes(api);
  Millis interval = Millis{c.mail.quota_check_minutes} * 60'000;
  queue.handle(kQuotaCheck, [&db, &clock, &quotas, interval](const tasks::Task& t) -> Status {
    Millis slot = t.payload.value("slot", Millis{0});
    return db.write_tx([&](db::Tx& tx) -> Status {
      auto n = TRY(mail::check_quotas(tx, quotas, quota_recipients, clock.now_ms()));
      if (n > 0) spdlog::info("mail: {} quota notices queued", n);
      if (!mail::enabled()) return {};  // mail was turned off: the chain ends
      // The next check: its own key, so a check that runs twice queues one successor; after a long
      // stop, the next slot from now (no catching up on the missed ones).
      Millis now = clock.now_ms();
      return enqueue_quota_check(tx, std::max(slot + 1, now / interval + 1), interval, now);
    });
  });
  if (!mail::enabled()) return {};
  Millis now = clock.now_ms();
  return db.write_tx([&](db::Tx& tx) { return enqueue_quota_check(tx, now / interval, interval, now); });
}

}  // namespace atrium::app
