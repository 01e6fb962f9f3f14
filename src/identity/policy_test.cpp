#include <gtest/gtest.h>

#include "identity/policy.hpp"
#include "identity/routes.hpp"

namespace atrium::identity {
namespace {

using http::Decision;

http::Principal with_role(const std::string& role, const std::string& org = "org_a") {
  http::Principal p;
  p.user_id = "usr_me";
  const auto* b = find_builtin(role);
  http::Binding binding{b->instance ? "" : org, b->name, {}};
  for (auto& g : b->permissions) binding.grants.push_back(*parse_grant(g, true));
  p.bindings.push_back(binding);
  return p;
}

const char* name(Decision d) { return d == Decision::kAllow ? "allow" : d == Decision::kForbidden ? "forbid" : "hide"; }

// The RBAC matrix at policy level: role x resource x verb x tenant. The integration suite runs
// the same matrix over HTTP.
TEST(Policy, BuiltinRoleMatrix) {
  struct Case {
    const char* role;
    const char* resource;
    const char* verb;
    bool own_tenant;
    Decision want;
  };
  const Case cases[] = {
      {"admin", "orgs", "delete", false, Decision::kAllow},
      {"admin", "projects", "write", false, Decision::kAllow},
      {"org-admin", "orgs", "write", true, Decision::kAllow},
      {"org-admin", "orgs", "delete", true, Decision::kForbidden},
      {"org-admin", "orgs", "read", false, Decision::kHidden},
      {"org-admin", "members", "create", true, Decision::kAllow},
      {"org-admin", "members", "create", false, Decision::kHidden},
      {"org-admin", "projects", "delete", true, Decision::kAllow},
      {"org-admin", "projects", "delete", false, Decision::kHidden},
      {"org-admin", "audit", "read", true, Decision::kAllow},
      {"org-admin", "quotas", "write", true, Decision::kAllow},
      {"member", "orgs", "read", true, Decision::kAllow},
      {"member", "orgs", "write", true, Decision::kForbidden},
      {"member", "orgs", "read", false, Decision::kHidden},
      {"member", "members", "create", true, Decision::kForbidden},
      {"member", "projects", "create", true, Decision::kAllow},
      {"member", "projects", "create", false, Decision::kHidden},
      {"member", "audit", "read", true, Decision::kHidden},
      {"member", "invitations", "create", true, Decision::kHidden},
      {"viewer", "orgs", "read", true, Decision::kAllow},
      {"viewer", "projects", "create", true, Decision::kHidden},
      {"viewer", "groups", "write", true, Decision::kForbidden},
      {"viewer", "groups", "read", false, Decision::kHidden},
  };
  for (const auto& c : cases) {
    auto p = with_role(c.role);
    http::Target t{.org_id = c.own_tenant ? "org_a" : "org_b", .owner_id = "usr_other"};
    EXPECT_EQ(decide(p, {c.resource, c.verb}, t), c.want)
        << c.role << " " << c.resource << ":" << c.verb << (c.own_tenant ? " own" : " foreign") << " got "
        << name(decide(p, {c.resource, c.verb}, t));
  }
}

TEST(Policy, ProjectRolesAndVisibility) {
  auto member = with_role("member");
  http::Target priv{.org_id = "org_a", .owner_id = "usr_other", .visibility = "private"};
  EXPECT_EQ(decide(member, {"projects", "read"}, priv), Decision::kHidden);
  priv.project_role = "viewer";
  EXPECT_EQ(decide(member, {"projects", "read"}, priv), Decision::kAllow);
  EXPECT_EQ(decide(member, {"projects", "write"}, priv), Decision::kForbidden);
  priv.project_role = "maintainer";
  EXPECT_EQ(decide(member, {"projects", "write"}, priv), Decision::kAllow);
  EXPECT_EQ(decide(member, {"projects", "admin"}, priv), Decision::kForbidden);
  priv.project_role = "owner";
  EXPECT_EQ(decide(member, {"projects", "delete"}, priv), Decision::kAllow);

  // A project role outside the caller's orgs (they left the org) grants nothing.
  http::Target elsewhere{.org_id = "org_b", .owner_id = "usr_me", .project_role = "owner", .visibility = "private"};
  EXPECT_EQ(decide(member, {"projects", "read"}, elsewhere), Decision::kHidden);

  http::Target org_vis{.org_id = "org_a", .visibility = "org"};
  EXPECT_EQ(decide(member, {"projects", "read"}, org_vis), Decision::kAllow);
  EXPECT_EQ(decide(member, {"projects", "write"}, org_vis), Decision::kForbidden);
  http::Target other_org_vis{.org_id = "org_b", .visibility = "org"};
  EXPECT_EQ(decide(member, {"projects", "read"}, other_org_vis), Decision::kHidden);
  http::Target inst{.org_id = "org_b", .visibility = "instance"};
  EXPECT_EQ(decide(member, {"projects", "read"}, inst), Decision::kAllow);
  EXPECT_EQ(decide(member, {"projects", "write"}, inst), Decision::kForbidden);
}

TEST(Policy, TokenScopesOnlyNarrow) {
  auto admin = with_role("admin");
  admin.token_id = "tok_1";
  admin.token_scopes = {*parse_grant("projects:read", false)};
  http::Target t{.org_id = "org_a"};
  EXPECT_EQ(decide(admin, {"projects", "read"}, t), Decision::kAllow);
  EXPECT_EQ(decide(admin, {"projects", "write"}, t), Decision::kForbidden);
  EXPECT_FALSE(token_allows(admin, {"orgs", "read"}));
  // A wide token on a narrow user is still narrow.
  auto viewer = with_role("viewer");
  viewer.token_id = "tok_2";
  viewer.token_scopes = {*parse_grant("*:*", false)};
  EXPECT_EQ(decide(viewer, {"orgs", "write"}, t), Decision::kForbidden);
  // Scope part of a token: own only.
  auto member = with_role("member");
  member.token_id = "tok_3";
  member.token_scopes = {*parse_grant("projects:*:own", false)};
  http::Target mine{.org_id = "org_a", .owner_id = "usr_me", .project_role = "owner"};
  http::Target theirs{.org_id = "org_a", .owner_id = "usr_x", .project_role = "owner"};
  EXPECT_EQ(decide(member, {"projects", "write"}, mine), Decision::kAllow);
  EXPECT_EQ(decide(member, {"projects", "write"}, theirs), Decision::kForbidden);
}

TEST(Policy, SelfServiceAndGroupScope) {
  auto viewer = with_role("viewer");
  EXPECT_EQ(decide(viewer, {"tokens", "create"}, {.owner_id = "usr_me"}), Decision::kAllow);
  EXPECT_EQ(decide(viewer, {"tokens", "delete"}, {.owner_id = "usr_other"}), Decision::kHidden);
  EXPECT_EQ(decide(viewer, {"users", "write"}, {.owner_id = "usr_me"}), Decision::kAllow);
  EXPECT_EQ(decide(viewer, {"orgs", "create"}, {}), Decision::kForbidden);

  http::Principal lead;
  lead.user_id = "usr_me";
  lead.group_ids = {"grp_1"};
  lead.bindings.push_back({"org_a", "lead", {*parse_grant("projects:write:group", true), *parse_grant("projects:read:group", true)}});
  EXPECT_EQ(decide(lead, {"projects", "write"}, {.org_id = "org_a", .group_id = "grp_1"}), Decision::kAllow);
  EXPECT_EQ(decide(lead, {"projects", "write"}, {.org_id = "org_a", .group_id = "grp_2"}), Decision::kHidden);
}

TEST(Policy, NobodyGrantsWhatTheyDoNotHold) {
  auto org_admin = with_role("org-admin");
  auto as_grants = [](std::vector<std::string> v) {
    std::vector<http::Grant> out;
    for (auto& s : v) out.push_back(*parse_grant(s, true));
    return out;
  };
  EXPECT_TRUE(holds_all(org_admin, "org_a", as_grants(find_builtin("org-admin")->permissions)));
  EXPECT_TRUE(holds_all(org_admin, "org_a", as_grants({"projects:read:group", "members:write:own"})));
  EXPECT_FALSE(holds_all(org_admin, "org_a", as_grants({"orgs:delete:org"})));
  EXPECT_FALSE(holds_all(org_admin, "org_b", as_grants({"projects:read:org"})));
  http::Principal inviter;
  inviter.bindings.push_back({"org_a", "inviter", as_grants({"members:create:org", "invitations:create:org"})});
  EXPECT_FALSE(holds_all(inviter, "org_a", as_grants(find_builtin("org-admin")->permissions)));
  EXPECT_TRUE(holds_all(with_role("admin"), "org_z", as_grants({"orgs:delete:org"})));
}

TEST(Policy, OrgScopedTokensStayInsideOrgs) {
  auto admin = with_role("admin");
  admin.token_id = "tok";
  admin.token_scopes = {*parse_grant("*:*:org", true)};
  EXPECT_EQ(decide(admin, {"orgs", "create"}, {}), Decision::kForbidden);
  EXPECT_EQ(decide(admin, {"tokens", "create"}, {.owner_id = "usr_me"}), Decision::kAllow);
}

TEST(Policy, GrantParsing) {
  EXPECT_TRUE(parse_grant("projects:read:org", true));
  EXPECT_TRUE(parse_grant("*:*:*", true));
  EXPECT_FALSE(parse_grant("projects:read", true));
  EXPECT_TRUE(parse_grant("projects:read", false));
  EXPECT_FALSE(parse_grant("projects:fly:org", true));
  EXPECT_FALSE(parse_grant("rockets:read:org", true));
  EXPECT_FALSE(parse_grant("projects:read:galaxy", true));
  EXPECT_FALSE(parse_grant("a:b:c:d", true));
  EXPECT_TRUE(grant_covers(*parse_grant("projects:*", false), *parse_grant("projects:read:org", true)));
  EXPECT_FALSE(grant_covers(*parse_grant("projects:read", false), *parse_grant("projects:write", false)));
  EXPECT_FALSE(grant_covers(*parse_grant("projects:read:own", true), *parse_grant("projects:read:*", true)));
  EXPECT_TRUE(grant_covers(*parse_grant("projects:read:org", true), *parse_grant("projects:read:own", true)));
  EXPECT_FALSE(grant_covers(*parse_grant("projects:read:group", true), *parse_grant("projects:read:org", true)));
}

}  // namespace
}  // namespace atrium::identity
