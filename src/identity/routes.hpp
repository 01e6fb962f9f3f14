// HTTP routes of identity: auth, sessions, tokens, users, orgs, members, groups, roles,
// invitations, quotas.
#pragma once

#include <memory>

#include "http/api.hpp"
#include "identity/auth.hpp"
#include "identity/orgs.hpp"
#include "quota/quota.hpp"

namespace atrium::identity {

struct RouteDeps {
  const AuthSettings& settings;
  LoginLimiter& limiter;
  // Projects of an org (an org with projects cannot be deleted); provided by projects/.
  std::function<Result<std::int64_t>(db::Tx&, const std::string& org_id)> org_project_count;
  // Projects of a group (a group that projects belong to cannot be deleted); provided by projects/.
  std::function<Result<std::int64_t>(db::Tx&, const std::string& group_id)> group_project_count;
  const quota::Registry& quotas;  // the quota kinds and usage functions of jobs, data and envs
};

// A user named in a request body by "user_id" or "username" (one is required).
struct UserRef {
  std::string name;   // an id or a username, for find_user
  const char* field;  // which field named it, for error messages
};
Result<UserRef> user_ref(const http::JsonBody& body);

void add_auth_routes(http::Api& api, RouteDeps deps);
void add_org_routes(http::Api& api, RouteDeps deps);

}  // namespace atrium::identity
