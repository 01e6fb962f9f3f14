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

// [compute.clusters.NAME] and [compute.partitions.NAME] (src/slurm/config.cpp), nested in [compute].
TEST(Config, SlurmClustersAndPartitions) {
  std::string dir = ::testing::TempDir(), key = dir + "/atrium_jwt.key", path = dir + "/atrium_slurm.toml";
  std::ofstream(key) << "0123456789abcdef0123456789abcdef";
  auto load = [&](const std::string& text, std::map<std::string, std::string> env = {}) {
    std::ofstream(path) << text;
    return load_settings(path, env, {});
  };
  std::string cluster = "[compute.clusters.dev]\nrest_url = \"http://127.0.0.1:6820/\"\njwt_key_file = \"" + key +
                        "\"\nserver_url = \"http://10.1.0.1:{port}\"\naccounts = { lab = \"lab_acct\" }\n";
  auto c = load("[compute]\ncpus = 2\n" + cluster + "[compute.partitions.slurm]\ncluster = \"dev\"\norgs = [\"lab\", \"b\"]\n",
                {{"ATRIUM_COMPUTE_CLUSTERS_DEV_POLL_MS", "250"}});
  ASSERT_TRUE(c) << c.error().detail;
  EXPECT_EQ(c->compute.cpus, 2);
  auto& dev = c->slurm.clusters.at("dev");
  EXPECT_EQ(dev.rest_url, "http://127.0.0.1:6820");
  EXPECT_EQ(dev.submit_user, "root");
  EXPECT_EQ(dev.poll_ms, 250);
  EXPECT_EQ(nlohmann::json::parse(dev.accounts), nlohmann::json::parse(R"({"lab":"lab_acct"})"));
  EXPECT_EQ(c->slurm.partitions.at("slurm").slurm_partition, "slurm");  // "" = its own name
  EXPECT_EQ(c->slurm.partitions.at("slurm").orgs, "lab,b");
  auto error_of = [&](const std::string& text) {
    auto r = load(text);
    return r ? std::string() : r.error().detail;
  };
  EXPECT_NE(error_of(cluster + "[compute.partitions.p]\ncluster = \"nope\"\n").find("nope"), std::string::npos);
  EXPECT_NE(error_of(cluster + "[compute.partitions.local]\ncluster = \"dev\"\n").find("local"), std::string::npos);
  EXPECT_NE(error_of("[compute.clusters.x]\nrest_url = \"ftp://a\"\nserver_url = \"http://a\"\n").find("rest_url"),
            std::string::npos);
  EXPECT_NE(error_of(cluster + "[compute.clusters.y]\nrest_url = \"http://a\"\nserver_url = \"http://a\"\n"
                               "jwt_key_file = \"/nonexistent/key\"\n")
                .find("cannot be read"),
            std::string::npos);
  EXPECT_NE(error_of("[compute.clusters.z]\nrest_url = \"unix:/run/s.sock\"\nserver_url = \"http://a\"\n"
                     "accounts = { lab = 3 }\n")
                .find("accounts"),
            std::string::npos);
  EXPECT_NE(error_of("[compute.clusters.z]\nrest_url = \"unix:/run/s.sock\"\n").find("server_url"), std::string::npos);
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
  EXPECT_EQ(r.sections(),
            (std::vector<std::string>{"server", "limits", "auth", "database", "log", "compute", "compute.clusters",
                                      "compute.partitions", "data", "images", "envs", "image_builds", "git", "web",
                                      "tasks", "health", "mail", "oidc", "ldap"}));
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
    auto last = k.name.rfind('.');
    std::string prefix = k.name.substr(0, k.name.find(".NAME.")), key = k.name.substr(last + 1);
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
