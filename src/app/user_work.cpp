#include "app/user_work.hpp"

#include <set>

#include "mail/mail.hpp"
#include "mfa/mfa.hpp"
#include "projects/projects.hpp"

namespace atrium::app {

namespace {

// An answer that says the work has ended already (a race with its own end) is no failure here.
Status unless_ended(const Error& e) {
  if (e.code == ErrorCode::kFailedPrecondition) return {};
  return std::unexpected(e);
}

}  // namespace

identity::EndUserWork end_user_work(jobs::Service& jobs, envs::Service& envs) {
  return [&jobs, &envs](db::Tx& tx, const Actor& actor, const std::string& user_id, Millis now) -> Status {
    std::set<std::string> env_jobs;  // stopped with their environment (gracefully), not cancelled here
    auto list = TRY(envs::list_envs(tx, {.user_id = user_id, .active_only = true, .limit = 10'000}));
    for (auto& e : list) {
      env_jobs.insert(e.job_id);
      if (auto r = envs.request_stop(tx, actor, e, "the user's account was disabled", now); !r)
        TRY_STATUS(unless_ended(r.error()));
    }
    jobs::ListFilter f{.user_id = user_id, .states = {"PENDING", "RUNNING"}, .limit = 500};
    for (;;) {
      auto page = TRY(jobs::list(tx, f));
      for (auto& j : page) {
        if (env_jobs.contains(j.id()) || !j.stop_requested.empty()) continue;
        if (auto r = jobs.cancel(tx, actor, j, now); !r) TRY_STATUS(unless_ended(r.error()));
      }
      if (page.size() < static_cast<std::size_t>(f.limit)) break;
      f.after = page.back().id();
    }
    return {};
  };
}

identity::EndUserWork forget_second_factor(const mfa::Service& m) {
  return [&m](db::Tx& tx, const Actor& actor, const std::string& user_id, Millis now) -> Status {
    TRY(m.turn_off(tx, actor, user_id, "mfa.user_delete", now));
    return {};
  };
}

identity::RouteDeps identity_deps(const identity::AuthSettings& settings, identity::LoginLimiter& limiter,
                                  const quota::Registry& quotas, const identity::Config& c, jobs::Service& jobs,
                                  envs::Service& envs) {
  identity::RouteDeps deps{
      settings, limiter, [](db::Tx& tx, const std::string& org) { return projects::count_in_org(tx, org); },
      [](db::Tx& tx, const std::string& group) { return projects::count_in_group(tx, group); }, quotas};
  deps.account = identity::account_settings(c);
  deps.end_user_work = end_user_work(jobs, envs);
  deps.mailer = {mail::enabled, mail::enqueue};
  return deps;
}

}  // namespace atrium::app
