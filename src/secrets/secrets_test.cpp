#include "secrets/secrets.hpp"

#include <gtest/gtest.h>

#include "core/crypto.hpp"
#include "db/testing.hpp"
#include "secrets/store.hpp"

namespace atrium::secrets {
namespace {

using nlohmann::json;

TEST(SecretNames, FollowEnvironmentVariableRules) {
  for (const char* ok : {"HF_TOKEN", "_X", "A", "AWS_SECRET_ACCESS_KEY", "K9"}) EXPECT_TRUE(check_name(ok)) << ok;
  const std::string long_name(65, 'A');
  for (std::string bad : {std::string(""), std::string("hf_token"), std::string("9LIVES"), std::string("A-B"),
                          std::string("A B"), std::string("A.B"), long_name, std::string("PATH"), std::string("HOME"),
                          std::string("LD_PRELOAD"), std::string("ATRIUM_JOB_ID"), std::string("SLURM_JOB_ID"),
                          std::string("A\nB"), std::string("A\0B", 3)}) {
    auto st = check_name(bad);
    ASSERT_FALSE(st) << bad;
    EXPECT_EQ(st.error().extra["field"], "name");
  }
  EXPECT_TRUE(check_name(std::string(64, 'A')));
}

TEST(SecretRequests, ParseNamesAndWhere) {
  auto rs = parse_requests(json::parse(R"(["HF_TOKEN", "KEY:file", "B:env"])"));
  ASSERT_TRUE(rs) << rs.error().detail;
  ASSERT_EQ(rs->size(), 3u);
  EXPECT_EQ((*rs)[0].name, "HF_TOKEN");
  EXPECT_EQ((*rs)[0].as, "env");
  EXPECT_EQ((*rs)[1].name, "KEY");
  EXPECT_EQ((*rs)[1].as, "file");
  EXPECT_EQ((*rs)[2].as, "env");
  EXPECT_EQ(to_json(*rs), json::parse(R"(["HF_TOKEN", "KEY:file", "B"])"));
  EXPECT_TRUE(parse_requests(json(nullptr))->empty());
  EXPECT_TRUE(parse_requests(json::array())->empty());
}

TEST(SecretRequests, RefuseBadInput) {
  json many = json::array();
  for (std::size_t i = 0; i <= kMaxPerJob; ++i) many.push_back("S" + std::to_string(i));
  for (const json& bad : {json("HF_TOKEN"), json::parse("[1]"), json::parse(R"(["lower"])"),
                          json::parse(R"(["A:disk"])"), json::parse(R"(["A", "A:file"])"), json::parse(R"(["PATH"])"),
                          json::parse(R"([":file"])"), json::object(), many}) {
    auto r = parse_requests(bad);
    ASSERT_FALSE(r) << bad.dump();
    EXPECT_EQ(r.error().extra["field"], "secrets");
  }
}

TEST(SecretSeal, OpensOnlyForItsOwnRow) {
  crypto::init();
  std::string key = crypto::random_bytes(32), other = crypto::random_bytes(32);
  auto sealed = seal(key, "user", "usr_1", "HF_TOKEN", "hf_abc");
  EXPECT_EQ(sealed.find("hf_abc"), std::string::npos);
  EXPECT_EQ(open(key, "user", "usr_1", "HF_TOKEN", sealed), "hf_abc");
  EXPECT_FALSE(open(key, "user", "usr_2", "HF_TOKEN", sealed));      // another user's row
  EXPECT_FALSE(open(key, "project", "usr_1", "HF_TOKEN", sealed));   // another scope
  EXPECT_FALSE(open(key, "user", "usr_1", "OTHER", sealed));         // another name
  EXPECT_FALSE(open(other, "user", "usr_1", "HF_TOKEN", sealed));    // another key
  EXPECT_FALSE(open(key, "user", "usr_1", "HF_TOKEN", "not base64!"));
  EXPECT_NE(seal(key, "user", "usr_1", "HF_TOKEN", "hf_abc"), sealed);  // a fresh nonce each time
}

class ResolveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    crypto::init();
    key_ = crypto::random_bytes(32);
    db_ = db::open_test_db();
    ASSERT_TRUE(db_->migrate("secrets", migrations()));
  }
  void put(const std::string& scope, const std::string& owner, const std::string& name, const std::string& value) {
    store::Row r{scope, owner, "org_a", name, seal(key_, scope, owner, name, value), "", 1, 1, "usr_1", "usr_1", 1};
    ASSERT_TRUE(db_->write_tx([&](db::Tx& tx) { return store::insert(tx, r); }));
  }
  Result<std::vector<Value>> resolve_(const std::vector<Request>& wanted) {
    return db_->read([&](db::Tx& tx) { return resolve(tx, key_, "usr_1", "prj_1", wanted); });
  }
  std::string key_;
  std::unique_ptr<db::SqliteDatabase> db_;
};

TEST_F(ResolveTest, UserFirstThenProjectAndPinnedScopes) {
  put("user", "usr_1", "TOKEN", "mine");
  put("project", "prj_1", "TOKEN", "project's");
  put("project", "prj_1", "ONLY_PROJECT", "p");
  put("user", "usr_2", "THEIRS", "not yours");
  auto v = resolve_({{"TOKEN", "env", ""}, {"ONLY_PROJECT", "file", ""}});
  ASSERT_TRUE(v) << v.error().detail;
  EXPECT_EQ((*v)[0].value, "mine");
  EXPECT_EQ((*v)[0].scope, "user");
  EXPECT_EQ((*v)[1].value, "p");
  EXPECT_EQ((*v)[1].request.as, "file");
  auto pinned = resolve_({{"TOKEN", "env", "project"}});
  ASSERT_TRUE(pinned);
  EXPECT_EQ((*pinned)[0].value, "project's");
  // Another user's secret is not found, and the error names the secret only.
  auto missing = resolve_({{"THEIRS", "env", ""}});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().type, "secret-missing");
  EXPECT_NE(missing.error().detail.find("THEIRS"), std::string::npos);
  EXPECT_EQ(missing.error().detail.find("not yours"), std::string::npos);
  // Pinned to the user's scope: the project's of the same name is not a stand-in.
  ASSERT_FALSE(resolve_({{"ONLY_PROJECT", "env", "user"}}));
}

TEST_F(ResolveTest, SealedValueMovedToAnotherRowDoesNotOpen) {
  put("user", "usr_1", "A", "alpha");
  ASSERT_TRUE(db_->write_tx([&](db::Tx& tx) -> Status {
    auto a = TRY(store::find(tx, "user", "usr_1", "A"));
    store::Row b = *a;
    b.name = "B";
    return store::insert(tx, b);
  }));
  auto v = resolve_({{"B", "env", ""}});
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, ErrorCode::kInternal);
  EXPECT_EQ(v.error().detail.find("alpha"), std::string::npos);
}

}  // namespace
}  // namespace atrium::secrets
