// What stops when an instance admin disables or deletes a user: identity asks, the jobs and
// environments services do it (through their public headers), in the same transaction.
#pragma once

#include "envs/service.hpp"
#include "identity/account.hpp"
#include "identity/routes.hpp"
#include "jobs/service.hpp"
#include "mfa/mfa.hpp"

namespace atrium::app {

// The user's environments are asked to stop and their other PENDING and RUNNING jobs cancelled.
identity::EndUserWork end_user_work(jobs::Service& jobs, envs::Service& envs);
// A deleted user's second factor (TOTP secret, recovery codes, tickets) goes with the account.
identity::EndUserWork forget_second_factor(const mfa::Service& m);

// What identity's routes need from the other modules: projects (counts), quotas, mail, and the
// jobs and environments services (end_user_work).
identity::RouteDeps identity_deps(const identity::AuthSettings& settings, identity::LoginLimiter& limiter,
                                  const quota::Registry& quotas, const identity::Config& c, jobs::Service& jobs,
                                  envs::Service& envs);

}  // namespace atrium::app
