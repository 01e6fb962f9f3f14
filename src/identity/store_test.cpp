#include "identity/store.hpp"

#include <gtest/gtest.h>

namespace atrium::identity {
namespace {

// The principal cache listens to every commit: only writes to identity's own principal tables
// (or a driver's "*") may drop it.
TEST(ChangesPrincipals, OnlyIdentityPrincipalTables) {
  EXPECT_TRUE(changes_principals({"*"}));
  EXPECT_TRUE(changes_principals({"jobs", "tokens"}));
  for (const char* t : {"users", "instance_admins", "sessions", "tokens", "orgs", "roles", "org_members",
                        "org_groups", "group_members"})
    EXPECT_TRUE(changes_principals({t})) << t;
  EXPECT_FALSE(changes_principals({}));
  EXPECT_FALSE(changes_principals({"jobs", "audit_events", "projects", "files", "quotas", "invitations"}));
}

}  // namespace
}  // namespace atrium::identity
