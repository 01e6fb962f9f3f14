// HTTP routes of identity: auth, sessions, tokens, users, orgs, members, groups, roles,
// invitations, quotas.
#pragma once

#include <functional>
#include <memory>
#include <optional>

#include "http/api.hpp"
#include "identity/account.hpp"
#include "identity/auth.hpp"
#include "identity/orgs.hpp"
#include "quota/quota.hpp"

namespace atrium::identity {

// A second sign-in step after a correct password (mfa/ provides it); both run in the password
// login's write transaction. `challenge`, before any session: an answer that replaces the session
// (the second step's ticket), or nullopt to go on. `session_made`, once the session exists: fields
// added to the login's answer (mfa/ may hold the session to enrolment).
struct SecondFactor {
  std::function<Result<std::optional<nlohmann::json>>(db::Tx&, const Actor&, const User&, Millis now)> challenge;
  std::function<Result<nlohmann::json>(db::Tx&, const Actor&, const User&, const std::string& session_id, Millis now)>
      session_made;
};

// The end of every successful sign-in (the password login, mfa/'s second step), in the caller's
// write transaction: the account's failures for this client end and the session is made.
Result<NewSession> open_session(db::Tx& tx, const Actor& actor, const User& u, const http::Request& req,
                                const AuthSettings& s, Millis now);
// The answer that hands a new session to its browser: user, session id, CSRF token (+ `extra`
// fields) and the session and CSRF cookies.
http::Response session_answer(const AuthSettings& s, const http::Request& req, const User& u, const NewSession& ns,
                              nlohmann::json extra = nlohmann::json::object());

struct RouteDeps {
  const AuthSettings& settings;
  LoginLimiter& limiter;
  // Projects of an org (an org with projects cannot be deleted); provided by projects/.
  std::function<Result<std::int64_t>(db::Tx&, const std::string& org_id)> org_project_count;
  // Projects of a group (a group that projects belong to cannot be deleted); provided by projects/.
  std::function<Result<std::int64_t>(db::Tx&, const std::string& group_id)> group_project_count;
  const quota::Registry& quotas;  // the quota kinds and usage functions of jobs, data and envs
  // Optional (sso/): where the browser goes next to sign out at the identity provider the session
  // came from ("" = nowhere); logout then answers 200 {"logout_url"} instead of 204.
  using LogoutUrlFn = std::function<Result<std::string>(db::Tx&, const std::string& session_id)>;
  LogoutUrlFn provider_logout_url = nullptr;
  SecondFactor second_factor = {};  // mfa/'s step after a correct password (none: the password signs in)
  // Account recovery (identity/account.hpp): link lifetimes, the mail module, and what stops a
  // disabled or deleted user's jobs and environments (app/ wires the jobs and envs services).
  AccountSettings account = {};
  Mailer mailer = {};
  EndUserWork end_user_work = nullptr;
  // What other modules keep of a deleted user that must go with the account (app/ wires mfa's
  // second factor); runs in the delete's transaction.
  EndUserWork forget_user = nullptr;
};

// A user named in a request body by "user_id" or "username" (one is required).
struct UserRef {
  std::string name;   // an id or a username, for find_user
  const char* field;  // which field named it, for error messages
};
Result<UserRef> user_ref(const http::JsonBody& body);

// Nobody hands out, through a role, a permission they do not hold (nor, with a token, one outside
// its scopes): for other modules that grant roles (sso/ mapping rules).
Status may_grant_role(http::Context& ctx, const std::string& org_id, const std::string& role_id);

void add_auth_routes(http::Api& api, RouteDeps deps);
void add_org_routes(http::Api& api, RouteDeps deps);

}  // namespace atrium::identity
