#include <gtest/gtest.h>

#include <filesystem>

#include "audit/audit.hpp"
#include "core/crypto.hpp"
#include "db/testing.hpp"
#include "projects/projects.hpp"

namespace atrium::projects {
namespace {

TEST(Projects, FtsQueryIsAlwaysSafe) {
  EXPECT_EQ(fts_query("climate model"), "\"climate\"* \"model\"*");
  EXPECT_EQ(fts_query("\"); DROP TABLE x; --"), "\"DROP\"* \"TABLE\"* \"x\"*");
  EXPECT_EQ(fts_query("NEAR(a b) OR c*"), "\"NEAR\"* \"a\"* \"b\"* \"OR\"* \"c\"*");
  EXPECT_EQ(fts_query("   "), "");
}

class ProjectsDb : public ::testing::Test {
 protected:
  void SetUp() override {
    crypto::init();
    db_ = db::open_test_db();
    ASSERT_TRUE(db_->migrate("audit", audit::migrations()));
    ASSERT_TRUE(db_->migrate("projects", migrations()));
  }
  Project make(const std::string& org, const std::string& slug, const std::string& desc, const std::string& vis,
               const std::string& owner) {
    return *db_->write([&](db::Tx& tx) {
      return create(tx, Actor{.user_id = owner}, org, slug, slug, desc, {"tag-" + slug}, vis, "", 1000);
    });
  }
  std::vector<std::string> slugs(const Visibility& v, const std::string& q) {
    ListQuery lq;
    lq.q = q;
    auto r = *db_->read([&](db::Tx& tx) { return list(tx, v, lq); });
    std::vector<std::string> out;
    for (auto& p : r) out.push_back(p.slug);
    return out;
  }
  std::unique_ptr<db::SqliteDatabase> db_;
};

TEST_F(ProjectsDb, SearchIsScopedToWhatTheCallerMaySee) {
  make("org_a", "ocean", "ocean circulation model", "private", "usr_ann");
  make("org_a", "coast", "coastal ocean data", "org", "usr_bob");
  make("org_b", "deep", "deep ocean survey", "private", "usr_cy");
  make("org_b", "open", "open ocean atlas", "instance", "usr_cy");

  Visibility ann{.member_orgs = {"org_a"}, .user_id = "usr_ann"};
  EXPECT_EQ(slugs(ann, "ocean"), (std::vector<std::string>{"ocean", "coast", "open"}));
  Visibility cy{.member_orgs = {"org_b"}, .user_id = "usr_cy"};
  EXPECT_EQ(slugs(cy, "ocean"), (std::vector<std::string>{"deep", "open"}));
  Visibility admin_a{.member_orgs = {"org_a"}, .read_orgs = {"org_a"}, .user_id = "usr_z"};
  EXPECT_EQ(slugs(admin_a, "oce"), (std::vector<std::string>{"ocean", "coast", "open"}));
  EXPECT_EQ(slugs(ann, "circulation"), (std::vector<std::string>{"ocean"}));
  EXPECT_EQ(slugs(ann, "tag-coast"), (std::vector<std::string>{"coast"}));
  EXPECT_TRUE(slugs(ann, "survey").empty());  // exists, but not visible to ann
  Visibility ann_left{.user_id = "usr_ann"};  // ann left org_a: her project roles there no longer count
  EXPECT_EQ(slugs(ann_left, "ocean"), (std::vector<std::string>{"open"}));
}

TEST_F(ProjectsDb, UpdateReindexesAndChecksVersion) {
  auto p = make("org_a", "alpha", "first", "private", "usr_ann");
  Changes c;
  c.description = std::string("glacier melt");
  auto n = *db_->write([&](db::Tx& tx) { return update(tx, Actor{.user_id = "usr_ann"}, p, c, 2000); });
  EXPECT_EQ(n.version, 2);
  Visibility ann{.member_orgs = {"org_a"}, .user_id = "usr_ann"};
  EXPECT_EQ(slugs(ann, "glacier"), (std::vector<std::string>{"alpha"}));
  EXPECT_TRUE(slugs(ann, "first").empty());
  auto stale = db_->write([&](db::Tx& tx) { return update(tx, Actor{.user_id = "usr_ann"}, p, c, 3000); });
  // Same change as before: nothing to do, so no conflict; a different change on the old version conflicts.
  c.description = std::string("other");
  stale = db_->write([&](db::Tx& tx) { return update(tx, Actor{.user_id = "usr_ann"}, p, c, 3000); });
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().code, ErrorCode::kPreconditionFailed);
}

}  // namespace
}  // namespace atrium::projects
