#include "identity/policy.hpp"

#include <algorithm>

namespace atrium::identity {
namespace {

bool part_matches(const std::string& pattern, std::string_view value) { return pattern == "*" || pattern == value; }

bool in(const std::vector<std::string>& v, std::string_view x) { return std::find(v.begin(), v.end(), x) != v.end(); }

// Whether a grant's scope covers the target, for a grant held through binding org `org`.
bool scope_covers(const std::string& scope, const std::string& binding_org, const http::Principal& who,
                  const http::Target& t) {
  if (binding_org.empty()) return scope == "all" || scope == "*";  // instance-level binding
  if (t.org_id != binding_org) return false;
  if (scope == "all" || scope == "*" || scope == "org") return true;
  if (scope == "group") return !t.group_id.empty() && in(who.group_ids, t.group_id);
  if (scope == "own") return !t.owner_id.empty() && t.owner_id == who.user_id;
  return false;
}

// Everyone may manage their own credentials and profile.
bool self_service(const http::Principal& who, const http::Permission& perm, const http::Target& t) {
  if (t.owner_id.empty() || t.owner_id != who.user_id || !t.org_id.empty()) return false;
  if (perm.resource == "tokens" || perm.resource == "sessions" || perm.resource == "secrets") return true;
  if (perm.resource == "users") return perm.verb == "read" || perm.verb == "write";
  return false;
}

bool visibility_read(const http::Principal& who, const http::Permission& perm, const http::Target& t) {
  // A project's visibility covers its content: its files read like the project.
  if (perm.verb != "read" || (perm.resource != "projects" && perm.resource != "files" && perm.resource != "code")) return false;
  if (t.visibility == "instance") return true;
  if (t.visibility == "org") return who.is_member_of(t.org_id);
  return false;
}

bool rbac_allows(const http::Principal& who, const http::Permission& perm, const http::Target& t) {
  for (const auto& b : who.bindings)
    for (const auto& g : b.grants)
      if (part_matches(g.resource, perm.resource) && part_matches(g.verb, perm.verb) &&
          scope_covers(g.scope, b.org_id, who, t))
        return true;
  // A project role counts only while its holder is in the project's org: leaving the org ends it.
  if (!t.project_role.empty() && who.is_member_of(t.org_id)) {
    for (const auto& g : project_role_grants(t.project_role))
      if (part_matches(g.resource, perm.resource) && part_matches(g.verb, perm.verb)) return true;
    // Own jobs: whoever submitted a job may cancel, hold, release and requeue it while they can submit.
    if (perm.resource == "jobs" && perm.verb == "write" && !t.owner_id.empty() && t.owner_id == who.user_id)
      for (const auto& g : project_role_grants(t.project_role))
        if (g.resource == "jobs" && (g.verb == "create" || g.verb == "*")) return true;
    // Own environments: whoever launched one may use and stop it while they may launch in the project.
    if (perm.resource == "envs" && (perm.verb == "write" || perm.verb == "use") && !t.owner_id.empty() &&
        t.owner_id == who.user_id)
      for (const auto& g : project_role_grants(t.project_role))
        if (g.resource == "envs" && g.verb == "create") return true;
  }
  return visibility_read(who, perm, t) || self_service(who, perm, t);
}

// A token's scopes narrow: the scope part is checked against the target like a role's.
bool token_covers(const http::Principal& who, const http::Permission& perm, const http::Target& t) {
  if (!who.via_token()) return true;
  // The caller's own org-less objects (tokens, sessions, profile) are within every narrower scope;
  // instance-level objects (no org, no owner) only within "all".
  bool own_object = t.org_id.empty() && !t.owner_id.empty() && t.owner_id == who.user_id;
  for (const auto& g : who.token_scopes) {
    if (!part_matches(g.resource, perm.resource) || !part_matches(g.verb, perm.verb)) continue;
    if (g.scope == "*" || g.scope == "all") return true;
    if (own_object) return true;
    if (g.scope == "org" && !t.org_id.empty() && who.is_member_of(t.org_id)) return true;
    if (g.scope == "group" && !t.group_id.empty() && in(who.group_ids, t.group_id)) return true;
    if (g.scope == "own" && !t.owner_id.empty() && t.owner_id == who.user_id) return true;
  }
  return false;
}

}  // namespace

Result<http::Grant> parse_grant(std::string_view text, bool scope_required) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (;;) {
    auto colon = text.find(':', start);
    parts.emplace_back(text.substr(start, colon == std::string_view::npos ? std::string_view::npos : colon - start));
    if (colon == std::string_view::npos) break;
    start = colon + 1;
  }
  if (parts.size() == 2 && !scope_required) parts.push_back("*");
  if (parts.size() != 3)
    return invalid("permission '" + std::string(text) + "' must be resource:verb:scope (e.g. projects:read:org)");
  auto check = [&](const std::string& v, const std::vector<std::string>& allowed, const char* what) -> Status {
    if (v == "*" || in(allowed, v)) return {};
    std::string list;
    for (auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
    return invalid("permission '" + std::string(text) + "': unknown " + what + " '" + v + "' (one of *, " + list + ")");
  };
  TRY_STATUS(check(parts[0], kResources, "resource"));
  TRY_STATUS(check(parts[1], kVerbs, "verb"));
  TRY_STATUS(check(parts[2], kScopes, "scope"));
  return http::Grant{parts[0], parts[1], parts[2]};
}

const std::vector<BuiltinRole>& builtin_roles() {
  static const std::vector<BuiltinRole> roles = {
      {"role_admin", "admin", "Instance administrator: everything everywhere", {"*:*:all"}, true},
      {"role_org-admin",
       "org-admin",
       "Administers one organisation: members, groups, roles, invitations, quotas, projects, audit",
       {"orgs:read:org", "orgs:write:org", "members:*:org", "groups:*:org", "roles:*:org", "invitations:*:org",
        "quotas:*:org", "projects:*:org", "jobs:*:org", "files:*:org", "code:*:org", "envs:read:org", "envs:write:org",
        "users:read:org", "audit:read:org", "secrets:*:org"},
       false},
      {"role_member",
       "member",
       "Works in the organisation: creates projects, sees colleagues and groups",
       {"orgs:read:org", "members:read:org", "groups:read:org", "roles:read:org", "users:read:org",
        "projects:create:org", "quotas:read:own"},
       false},
      {"role_viewer",
       "viewer",
       "Reads the organisation's directory and the projects shared with the organisation",
       {"orgs:read:org", "members:read:org", "groups:read:org", "roles:read:org", "users:read:org"},
       false},
  };
  return roles;
}

const BuiltinRole* find_builtin(std::string_view name_or_id) {
  for (auto& r : builtin_roles())
    if (r.name == name_or_id || r.id == name_or_id) return &r;
  return nullptr;
}

std::vector<http::Grant> project_role_grants(std::string_view role) {
  // Jobs: members submit and read; owners and maintainers also act on everyone's jobs. Acting on
  // one's own job is the own-job rule below. Files: members read and write, viewers read.
  // Environments: members launch and see them; owners and maintainers also stop everyone's. Using
  // one (the proxy) is its launcher's alone (the own-environment rule below), never a role's.
  // Secrets: owners and maintainers set them; members list the names and use them in their jobs.
  if (role == "owner")
    return {{"projects", "*", "*"}, {"jobs", "*", "*"}, {"files", "*", "*"}, {"code", "*", "*"},
            {"envs", "read", "*"},  {"envs", "create", "*"}, {"envs", "write", "*"}, {"secrets", "*", "*"}};
  if (role == "maintainer")
    return {{"projects", "read", "*"}, {"projects", "write", "*"}, {"jobs", "*", "*"}, {"files", "*", "*"},
            {"code", "*", "*"},        {"envs", "read", "*"},      {"envs", "create", "*"}, {"envs", "write", "*"},
            {"secrets", "*", "*"}};
  if (role == "member")
    return {{"projects", "read", "*"}, {"jobs", "read", "*"},  {"jobs", "create", "*"}, {"files", "read", "*"},
            {"files", "write", "*"},   {"code", "read", "*"},  {"code", "write", "*"},  {"envs", "read", "*"},
            {"envs", "create", "*"}, {"secrets", "read", "*"}};
  if (role == "viewer")
    return {{"projects", "read", "*"}, {"jobs", "read", "*"}, {"files", "read", "*"}, {"code", "read", "*"},
            {"envs", "read", "*"}};
  return {};
}

http::Decision decide(const http::Principal& who, const http::Permission& perm, const http::Target& t) {
  bool can = rbac_allows(who, perm, t);
  if (can && token_covers(who, perm, t)) return http::Decision::kAllow;
  // Instance-level objects (no tenant, no owner) are no secret: refuse plainly.
  if (t.org_id.empty() && t.owner_id.empty()) return http::Decision::kForbidden;
  // Existence is revealed only to those who may read the object.
  http::Permission read{perm.resource, "read"};
  if (perm.verb == "read") return can ? http::Decision::kForbidden : http::Decision::kHidden;
  return rbac_allows(who, read, t) ? http::Decision::kForbidden : http::Decision::kHidden;
}

bool grant_covers(const http::Grant& outer, const http::Grant& inner) {
  auto part = [](const std::string& o, const std::string& i) { return o == "*" || o == i; };
  auto scope = [](const std::string& o, const std::string& i) {
    if (o == "*" || o == i) return true;
    if (o == "all") return i != "*";
    if (o == "org") return i == "group" || i == "own";
    return false;
  };
  return part(outer.resource, inner.resource) && part(outer.verb, inner.verb) && scope(outer.scope, inner.scope);
}

bool holds_all(const http::Principal& who, const std::string& org_id, const std::vector<http::Grant>& grants) {
  if (who.is_instance_admin()) return true;
  for (const auto& g : grants) {
    bool held = false;
    for (const auto& b : who.bindings)
      if (b.org_id == org_id)
        for (const auto& mine : b.grants) held = held || grant_covers(mine, g);
    if (!held) return false;
  }
  return true;
}

bool token_allows(const http::Principal& who, const http::Permission& perm) {
  if (!who.via_token()) return true;
  for (const auto& g : who.token_scopes)
    if (part_matches(g.resource, perm.resource) && part_matches(g.verb, perm.verb)) return true;
  return false;
}

}  // namespace atrium::identity
