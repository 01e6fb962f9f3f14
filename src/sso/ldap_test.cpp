#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "sso/ldap_directory.hpp"

namespace atrium::sso::ldap {
namespace {

TEST(LdapFilter, EscapesEveryFilterMetacharacter) {
  EXPECT_EQ(escape_filter_value("alice"), "alice");
  EXPECT_EQ(escape_filter_value("*)(uid=*"), "\\2a\\29\\28uid=\\2a");
  EXPECT_EQ(escape_filter_value("a\\b"), "a\\5cb");
  EXPECT_EQ(escape_filter_value(std::string("a\0b", 3)), "a\\00b");
  EXPECT_EQ(escape_filter_value("Jürgen"), "Jürgen");  // UTF-8 is valid in a filter value
}

TEST(LdapFilter, ExpandsPlaceholdersEscaped) {
  EXPECT_EQ(expand_filter("(&(objectClass=inetOrgPerson)(uid={username}))", "*", ""),
            "(&(objectClass=inetOrgPerson)(uid=\\2a))");
  EXPECT_EQ(expand_filter("(|(member={dn})(memberUid={username}))", "bob", "cn=Smith\\, John,ou=people"),
            "(|(member=cn=Smith\\5c, John,ou=people)(memberUid=bob))");
  EXPECT_EQ(expand_filter("(uid={user})", "x", ""), "(uid={user})");  // unknown names stay
}

TEST(LdapNames, FirstRdnValueUnescapes) {
  EXPECT_EQ(first_rdn_value("cn=physics-staff,ou=groups,dc=example,dc=test"), "physics-staff");
  EXPECT_EQ(first_rdn_value("CN=Domain Users,CN=Users,DC=corp,DC=example"), "Domain Users");
  EXPECT_EQ(first_rdn_value("cn=R\\2cD\\, Lab,ou=groups"), "R,D, Lab");
  EXPECT_EQ(first_rdn_value("cn=a+sn=b,ou=x"), "a");
}

TEST(LdapUrl, Loopback) {
  EXPECT_TRUE(loopback_url("ldap://127.0.0.1:389"));
  EXPECT_TRUE(loopback_url("ldap://localhost"));
  EXPECT_TRUE(loopback_url("ldap://[::1]:1389/"));
  EXPECT_FALSE(loopback_url("ldap://ldap.example.org"));
  EXPECT_FALSE(loopback_url("ldap://127.0.0.1.evil.example"));
  EXPECT_FALSE(loopback_url("ldap://localhost.evil.example:389"));
}

class LdapConfigCheck : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("ldap-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / "pw") << "s3cret\n";
    c_.url = "ldaps://ldap.example.org";
    c_.user_base = "ou=people,dc=example,dc=org";
    c_.bind_dn = "cn=reader,dc=example,dc=org";
    c_.bind_password_file = (dir_ / "pw").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string error() {
    auto st = check_config("uni", c_);
    return st ? "" : st.error().detail;
  }
  std::filesystem::path dir_;
  LdapConfig c_;
};

TEST_F(LdapConfigCheck, AcceptsLdapsAndReadsThePassword) {
  EXPECT_EQ(error(), "");
  EXPECT_EQ(c_.bind_password, "s3cret");
  EXPECT_EQ(c_.display_name, "uni");
}

TEST_F(LdapConfigCheck, RefusesCleartextUnlessLoopbackAndAllowed) {
  c_.url = "ldap://ldap.example.org";
  EXPECT_NE(error().find("in the clear"), std::string::npos);
  c_.allow_insecure = true;
  EXPECT_NE(error().find("loopback"), std::string::npos);
  c_.url = "ldap://127.0.0.1:3389";
  EXPECT_EQ(error(), "");
  c_.allow_insecure = false;
  c_.start_tls = true;
  c_.url = "ldap://ldap.example.org";
  EXPECT_EQ(error(), "");
  c_.url = "ldaps://ldap.example.org";
  EXPECT_NE(error().find("start_tls"), std::string::npos);
  c_.start_tls = false;
  c_.url = "http://ldap.example.org";
  EXPECT_NE(error().find("ldaps://"), std::string::npos);
  c_.url = "ldaps://a ldaps://b";
  EXPECT_NE(error().find("one URL"), std::string::npos);
}

TEST_F(LdapConfigCheck, RefusesIncompleteSettings) {
  c_.user_filter = "(uid=alice)";
  EXPECT_NE(error().find("user_filter"), std::string::npos);
  c_.user_filter = "(uid={username})";
  c_.group_base = "ou=groups,dc=example,dc=org";
  EXPECT_NE(error().find("group_filter"), std::string::npos);
  c_.group_filter = "(member={dn})";
  EXPECT_EQ(error(), "");
  c_.bind_password_file = (dir_ / "missing").string();
  EXPECT_NE(error().find("cannot read"), std::string::npos);
  c_.bind_password_file = "";
  EXPECT_NE(error().find("go together"), std::string::npos);
  c_.bind_dn = "";
  EXPECT_EQ(error(), "");  // anonymous searches
  c_.user_base = "";
  EXPECT_NE(error().find("user_base"), std::string::npos);
}

TEST(LdapPassword, EmptyPasswordIsRefusedWithoutAsking) {
  LdapConfig c;
  c.url = "ldaps://192.0.2.1";  // TEST-NET: never contacted
  c.connect_timeout_ms = 100;
  Directory d("x", c);
  auto r = d.check_password("uid=alice,ou=people,dc=example,dc=org", "");
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(*r);
}

}  // namespace
}  // namespace atrium::sso::ldap
