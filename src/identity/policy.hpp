// RBAC: permissions are resource:verb:scope grants collected in roles. decide() is the one
// policy function every route goes through (via the Gatekeeper). Pure: no I/O, no clock.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "http/gate.hpp"

namespace atrium::identity {

inline const std::vector<std::string> kResources = {"orgs",   "members", "groups", "roles",   "invitations", "quotas",
                                                    "projects", "users", "tokens", "sessions", "audit", "jobs",
                                                    "files", "code", "envs", "apps", "tasks", "secrets"};
inline const std::vector<std::string> kVerbs = {"read", "create", "write", "delete", "admin", "use"};
inline const std::vector<std::string> kScopes = {"own", "group", "org", "all"};
inline const std::vector<std::string> kProjectRoles = {"owner", "maintainer", "member", "viewer"};

// Parses "resource:verb:scope" (scope optional for token scopes: defaults to "*").
Result<http::Grant> parse_grant(std::string_view text, bool scope_required);

struct BuiltinRole {
  std::string id;    // role_admin, role_org-admin, ...
  std::string name;  // admin, org-admin, member, viewer
  std::string description;
  std::vector<std::string> permissions;
  bool instance;     // admin is held at instance level, the others per org
};
const std::vector<BuiltinRole>& builtin_roles();
const BuiltinRole* find_builtin(std::string_view name_or_id);

// Grants a project role gives on that project.
std::vector<http::Grant> project_role_grants(std::string_view role);

http::Decision decide(const http::Principal& who, const http::Permission& perm, const http::Target& target);

// Grant `outer` covers `inner`: each part equal or wider (* > all > org > group, own).
bool grant_covers(const http::Grant& outer, const http::Grant& inner);
// Whether `who` holds every grant in `grants` within org `org_id` (instance admins hold all).
// Nobody can hand out, through a role, a permission they do not have themselves.
bool holds_all(const http::Principal& who, const std::string& org_id, const std::vector<http::Grant>& grants);
bool token_allows(const http::Principal& who, const http::Permission& perm);

}  // namespace atrium::identity
