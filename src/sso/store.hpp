// Private to sso/: its tables (external identities, per-org mapping rules, what the mapping
// granted, OIDC sign-in attempts, which sessions came from which provider) and their SQL.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "core/error.hpp"
#include "db/database.hpp"

namespace atrium::sso::store {

std::vector<db::Migration> migrations();

// ---- external identities: (provider, subject) -> user
Result<std::optional<std::string>> identity_user(db::Tx& tx, const std::string& provider, const std::string& subject);
Status link_identity(db::Tx& tx, const std::string& provider, const std::string& subject, const std::string& user_id,
                     const std::string& email, Millis now);
// Whether the user already has an identity at this provider.
Result<bool> has_identity_at(db::Tx& tx, const std::string& provider, const std::string& user_id);
Status touch_identity(db::Tx& tx, const std::string& provider, const std::string& subject, const std::string& email,
                      Millis now);

// ---- per-org mapping rules (a JSON array), versioned for ETag/If-Match
struct OrgRules {
  std::string org_id, rules_json = "[]";
  std::int64_t version = 0;  // 0: never set
  Millis updated = 0;
};
Result<OrgRules> org_rules(db::Tx& tx, const std::string& org_id);
Result<std::vector<OrgRules>> all_org_rules(db::Tx& tx);
// Replaces the rules when the stored version is still `version` (false: a concurrent change).
Result<bool> put_org_rules(db::Tx& tx, const std::string& org_id, const std::string& rules_json,
                           std::int64_t version, Millis now);

// ---- what a provider's mapping granted a user: kind "member" (target: role id) or "group" (group id)
struct Grant {
  std::string org_id, kind, target;
};
Result<std::vector<Grant>> grants(db::Tx& tx, const std::string& user_id, const std::string& provider);
Status add_grant(db::Tx& tx, const std::string& user_id, const std::string& provider, const Grant& g, Millis now);
Status drop_grant(db::Tx& tx, const std::string& user_id, const std::string& provider, const Grant& g);

// ---- OIDC sign-in attempts (one-time; keyed by the state's hash, bound to a browser cookie's hash)
struct Login {
  std::string state_hash, provider, browser_hash, nonce, code_verifier, next;
  Millis created = 0, expires = 0;
};
Status insert_login(db::Tx& tx, const Login& l);
// Consumes the attempt: found, unused and unexpired once; nullopt afterwards (a replayed state).
Result<std::optional<Login>> take_login(db::Tx& tx, const std::string& state_hash, Millis now);
Status purge_logins(db::Tx& tx, Millis now);

// ---- sessions that came from a provider (for RP-initiated logout)
Status record_session(db::Tx& tx, const std::string& session_id, const std::string& provider, Millis now);
Result<std::optional<std::string>> session_provider(db::Tx& tx, const std::string& session_id);

}  // namespace atrium::sso::store
