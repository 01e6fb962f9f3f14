// Every module's section together: the real keys, and the docs that must list them
// (deploy/atrium.toml.example, the README's Configuration part).
#include "app/config.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include <toml.hpp>

namespace atrium::app {
namespace {

std::string read_source(const std::string& rel) {
  std::ifstream in(std::string(ATRIUM_SOURCE_DIR) + "/" + rel);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(Config, LayersAndErrors) {
  auto c = load_settings("", {{"ATRIUM_LISTEN", "127.0.0.1:0"}, {"ATRIUM_LIMITS_MAX_BODY_BYTES", "4096"},
                              {"ATRIUM_GIT_MAX_PUSH_BYTES", "2097152"}},
                         {{"server.data_dir", "/tmp/x"}});
  ASSERT_TRUE(c) << c.error().detail;
  EXPECT_EQ(c->server.listen, "127.0.0.1:0");
  EXPECT_EQ(c->limits.max_body_bytes, 4096);
  EXPECT_EQ(c->git.max_push_bytes, 2097152);
  EXPECT_EQ(c->server.data_dir, "/tmp/x");
  EXPECT_GT(c->server.io_threads, 0);
  EXPECT_GE(c->server.worker_threads, 16);
  auto bad = load_settings("", {{"ATRIUM_LIMITS_NOPE", "1"}}, {});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().detail.find("ATRIUM_LIMITS_NOPE"), std::string::npos);
  EXPECT_TRUE(load_settings("", {{"ATRIUM_TOKEN", "x"}, {"ATRIUM_BIN", "/x"}, {"ATRIUM_SERVER_URL", "http://a"}}, {}));
  EXPECT_FALSE(load_settings("", {}, {{"limits.idle_timeout_s", "0"}}));
  EXPECT_FALSE(load_settings("", {}, {{"compute.cgroup_parent", "../x"}}));
  EXPECT_FALSE(load_settings("", {}, {{"compute.outbound_allow", "10.0.0.0/40"}}));
  EXPECT_FALSE(load_settings("", {}, {{"server.tls_cert", "/a.pem"}}));
  auto domain = load_settings("", {}, {{"envs.domain", "Envs.Example.ORG"}, {"server.public_url", "https://a.org//"}});
  ASSERT_TRUE(domain) << domain.error().detail;
  EXPECT_EQ(domain->envs.domain, "envs.example.org");
  EXPECT_EQ(domain->server.public_url, "https://a.org");
}

// One name, one sign-in provider: the name keys the accounts linked through it.
TEST(Config, ProviderNamesAreUniqueAcrossKinds) {
  std::string path = ::testing::TempDir() + "/atrium_providers.toml";
  auto write = [&](const std::string& ldap_name) {
    FILE* f = fopen(path.c_str(), "w");
    fputs(("[oidc.uni]\nissuer = \"https://idp.uni.example\"\nclient_id = \"atrium\"\n[ldap." + ldap_name +
           "]\nurl = \"ldaps://ldap.uni.example\"\nuser_base = \"ou=people,dc=uni\"\n")
              .c_str(),
          f);
    fclose(f);
  };
  write("dir");
  auto ok = load_settings(path, {}, {});
  ASSERT_TRUE(ok) << ok.error().detail;
  write("uni");
  auto clash = load_settings(path, {}, {});
  ASSERT_FALSE(clash);
  EXPECT_NE(clash.error().detail.find("share a name"), std::string::npos) << clash.error().detail;
}

TEST(Config, PathsBecomeAbsolute) {
  auto c = load_settings("", {}, {{"server.data_dir", "./var/"}, {"server.tls_cert", "certs/a.pem"},
                                  {"server.tls_key", "/etc/k.pem"}, {"data.key_file", "../keys/master.key"},
                                  {"log.access_log", "logs/access.log"}},
                         "/srv/atrium");
  ASSERT_TRUE(c) << c.error().detail;
  EXPECT_EQ(c->server.data_dir, "/srv/atrium/var");
  EXPECT_EQ(c->server.tls_cert, "/srv/atrium/certs/a.pem");
  EXPECT_EQ(c->server.tls_key, "/etc/k.pem");
  EXPECT_EQ(c->data.key_file, "/srv/keys/master.key");
  EXPECT_EQ(c->log.access_log, "/srv/atrium/logs/access.log");
  auto d = load_settings("", {}, {}, "/home/me/atrium");  // the defaults: "./var", stdout, no key file
  ASSERT_TRUE(d);
  EXPECT_EQ(d->server.data_dir, "/home/me/atrium/var");
  EXPECT_EQ(d->log.access_log, "-");
  EXPECT_EQ(d->data.key_file, "");
}

TEST(Config, KeysAreUniqueAndSectionsDeclared) {
  Settings s;
  config::Registry r;
  declare_all(r, s);
  std::set<std::string> names;
  for (auto& k : r.keys()) EXPECT_TRUE(names.insert(k.name).second) << k.name;
  EXPECT_EQ(r.sections(), (std::vector<std::string>{"server", "limits", "auth", "database", "log", "compute", "data",
                                                    "images", "envs", "image_builds", "git", "web", "tasks", "mail",
                                                    "oidc", "ldap"}));
}

// A TOML value as the text Registry::value_text gives.
std::string toml_as_text(const toml::value& v) {
  if (v.is_integer()) return std::to_string(v.as_integer());
  if (v.is_boolean()) return v.as_boolean() ? "true" : "false";
  if (v.is_string()) return v.as_string().str;
  return "<" + toml::format(v) + ">";
}

// deploy/atrium.toml.example shows every key with its default (server.data_dir: the systemd
// unit's), and nothing else: it loads as a config file.
TEST(ConfigDocs, ExampleListsEveryKeyWithItsDefault) {
  const std::string example = std::string(ATRIUM_SOURCE_DIR) + "/deploy/atrium.toml.example";
  Settings defaults;
  config::Registry r;
  declare_all(r, defaults);
  auto root = toml::parse(example);
  for (auto& k : r.keys()) {
    auto dot = k.name.find('.');
    std::string section = k.name.substr(0, dot), key = k.name.substr(dot + 1);
    if (!root.contains(section) || !root.at(section).contains(key)) {
      ADD_FAILURE() << k.name << " (" << k.help << ") is missing from deploy/atrium.toml.example";
      continue;
    }
    if (k.name == "server.data_dir") continue;
    EXPECT_EQ(toml_as_text(root.at(section).at(key)), r.value_text(k.name))
        << k.name << ": deploy/atrium.toml.example does not show the default";
  }
  // A family's members are named by the site ([oidc.NAME]): the example shows one, commented out,
  // with every key.
  std::string text = read_source("deploy/atrium.toml.example");
  for (auto& k : r.family_keys()) {
    auto first = k.name.find('.'), last = k.name.rfind('.');
    std::string prefix = k.name.substr(0, first), key = k.name.substr(last + 1);
    auto block = text.find("\n# [" + prefix + ".");
    EXPECT_NE(block, std::string::npos) << "deploy/atrium.toml.example shows no commented [" << prefix << ".NAME]";
    if (block != std::string::npos) {
      EXPECT_NE(text.find("\n# " + key + " =", block), std::string::npos)
          << k.name << " (" << k.help << ") is missing from the commented [" << prefix << ".NAME] example";
    }
  }
  auto loaded = load_settings(example, {}, {});
  EXPECT_TRUE(loaded) << loaded.error().detail;
}

// The README's Configuration part names every section as `[name]`.
TEST(ConfigDocs, ReadmeNamesEverySection) {
  std::string readme = read_source("README.md");
  auto start = readme.find("\n## Configuration\n");
  ASSERT_NE(start, std::string::npos) << "README.md has no '## Configuration' part";
  std::string part = readme.substr(start, readme.find("\n## ", start + 1) - start);
  Settings s;
  config::Registry r;
  declare_all(r, s);
  for (auto& section : r.sections())
    EXPECT_NE(part.find("`[" + section + "]`"), std::string::npos)
        << "README.md's Configuration part does not name the section `[" << section << "]`";
}

}  // namespace
}  // namespace atrium::app
