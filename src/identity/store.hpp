// Identity data: users, sessions, API tokens, orgs, groups, roles, memberships and invitations
// (quotas are quota/'s). Functions take the caller's transaction; every mutation also writes its audit event.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "audit/audit.hpp"
#include "core/actor.hpp"
#include "core/clock.hpp"
#include "core/error.hpp"
#include "db/database.hpp"
#include "http/gate.hpp"

namespace atrium::identity {

std::vector<db::Migration> migrations();

// Whether a committed write to `tables` (as Database's commit listener names them; "*" = a
// driver that cannot tell) may change a principal: the identity tables by_token, by_session and
// load_principal read. Only identity's own tables: a write anywhere else leaves principals valid.
bool changes_principals(const std::vector<std::string>& tables);

struct User {
  std::string id, username, email, display_name, password_hash;
  bool disabled = false;
  std::int64_t failed_logins = 0;
  Millis locked_until = 0;
  Millis created = 0, updated = 0;
  std::int64_t version = 1;
  nlohmann::json json() const;
};

struct Org {
  std::string id, slug, name;
  Millis created = 0;
  std::int64_t version = 1;
  nlohmann::json json() const;
};

// Password rules: 10..1024 bytes, not the username.
Status check_password(std::string_view username, std::string_view password);

// ---- users
Result<std::optional<User>> find_user(db::Tx& tx, std::string_view id_or_name);
Result<User> get_user(db::Tx& tx, std::string_view id);  // not_found
Result<User> create_user(db::Tx& tx, const Actor& actor, const std::string& username, const std::string& password_hash,
                         const std::string& email, const std::string& display_name, Millis now);
Result<bool> any_user(db::Tx& tx);
Status make_instance_admin(db::Tx& tx, const Actor& actor, const std::string& user_id, Millis now);
Result<bool> is_instance_admin(db::Tx& tx, const std::string& user_id);
// The orgs a user belongs to, for org-scoped checks on user objects.
Result<std::vector<std::string>> user_org_ids(db::Tx& tx, const std::string& user_id);

// ---- principal
Result<http::Principal> load_principal(db::Tx& tx, const User& u);

// ---- orgs
Result<Org> get_org(db::Tx& tx, std::string_view id_or_slug);  // not_found

// ---- memberships
Result<std::optional<std::string>> org_role_of(db::Tx& tx, const std::string& org_id, const std::string& user_id);
// Resolves a role name or id (built-in or the org's custom role) to a role id.
Result<std::string> resolve_role(db::Tx& tx, const std::string& org_id, const std::string& name_or_id);
Status add_org_member(db::Tx& tx, const Actor& actor, const std::string& org_id, const std::string& user_id,
                      const std::string& role_id, Millis now);

}  // namespace atrium::identity

namespace atrium::identity {
// ---- user directory
Result<nlohmann::json> me_json(db::Tx& tx, const http::Principal& who);
// Users visible through the given orgs (all users when all == true), plus `self`.
Result<nlohmann::json> list_users(db::Tx& tx, bool all, const std::vector<std::string>& org_ids,
                                  const std::string& self, const std::string& after, int limit);
Result<User> update_user(db::Tx& tx, const Actor& actor, const User& u, const std::optional<std::string>& display_name,
                         const std::optional<std::string>& email, std::optional<bool> disabled, Millis now);
// The target to check a user object against: self, or an org the caller shares with them.
http::Target user_target(const http::Principal& who, const std::string& user_id, const std::vector<std::string>& user_orgs);
}  // namespace atrium::identity
