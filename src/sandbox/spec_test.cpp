#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "sandbox/sandbox.hpp"

namespace atrium::sandbox {
namespace {

using nlohmann::json;

json minimal() { return json{{"id", "job-1"}, {"argv", {"/bin/true"}}, {"workspace", "/srv/ws/job-1"}}; }

TEST(SandboxSpec, MinimalHasDefaults) {
  auto s = spec_from_json(minimal());
  ASSERT_TRUE(s) << s.error().detail;
  EXPECT_EQ(s->hostname, "job");
  EXPECT_EQ(s->cgroup_parent, "atrium");
  EXPECT_FALSE(s->network);
  EXPECT_EQ(s->limits.kill_grace_ms, 10'000);
  EXPECT_FALSE(s->limits.memory_bytes);
}

TEST(SandboxSpec, RoundTrip) {
  json full = {{"id", "A_b-9"},
               {"argv", {"python3", "-c", "print(1)"}},
               {"env", {{"LANG", "C.UTF-8"}, {"X_1", ""}}},
               {"workspace", "/srv/ws"},
               {"mounts", {{{"source", "/data/g"}, {"target", "/data/genomes"}, {"writable", false}},
                           {{"source", "/scratch/u"}, {"target", "/scratch"}, {"writable", true}}}},
               {"rootfs", "/images/debian"},
               {"uid", 1001},
               {"gid", 1002},
               {"network", true},
               {"gpus", {0, 3}},
               {"hostname", "node-1.job"},
               {"cwd", "/atrium/run"},
               {"limits",
                {{"memory_bytes", 1 << 30}, {"cpus", 1.5}, {"pids", 64}, {"wall_ms", 60000}, {"kill_grace_ms", 0},
                 {"output_bytes", 1 << 20}}},
               {"stdout_path", "/var/log/j.out"},
               {"stderr_path", "/var/log/j.err"},
               {"cgroup_parent", "atrium/jobs"}};
  auto s = spec_from_json(full);
  ASSERT_TRUE(s) << s.error().detail;
  EXPECT_EQ(s->argv.size(), 3u);
  EXPECT_EQ(*s->uid, 1001u);
  EXPECT_EQ(s->mounts[1].writable, true);
  EXPECT_DOUBLE_EQ(*s->limits.cpus, 1.5);
  EXPECT_EQ(s->limits.kill_grace_ms, 0);
  auto again = spec_from_json(to_json(*s));
  ASSERT_TRUE(again) << again.error().detail;
  EXPECT_EQ(to_json(*again), to_json(*s));
  EXPECT_EQ(to_json(*again), full);
}

struct BadCase {
  const char* name;
  json patch;  // merged into minimal()
  const char* field;
};

class SandboxSpecInvalid : public ::testing::TestWithParam<BadCase> {};

TEST_P(SandboxSpecInvalid, NamesTheField) {
  json j = minimal();
  j.merge_patch(GetParam().patch);
  auto s = spec_from_json(j);
  ASSERT_FALSE(s) << GetParam().name;
  EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(s.error().extra.value("field", ""), GetParam().field) << s.error().detail;
  EXPECT_NE(s.error().detail.find(GetParam().field), std::string::npos) << s.error().detail;
}

INSTANTIATE_TEST_SUITE_P(
    Table, SandboxSpecInvalid,
    ::testing::Values(
        BadCase{"unknown key", {{"shell", true}}, "shell"},
        BadCase{"relative cwd", {{"cwd", "sub"}}, "cwd"},
        BadCase{"empty id", {{"id", ""}}, "id"},
        BadCase{"id slash", {{"id", "a/b"}}, "id"},
        BadCase{"id dots", {{"id", ".."}}, "id"},
        BadCase{"id long", {{"id", std::string(65, 'a')}}, "id"},
        BadCase{"id type", {{"id", 7}}, "id"},
        BadCase{"argv empty", {{"argv", json::array()}}, "argv"},
        BadCase{"argv type", {{"argv", "ls"}}, "argv"},
        BadCase{"argv item type", {{"argv", {"ls", 1}}}, "argv[1]"},
        BadCase{"argv0 empty", {{"argv", {""}}}, "argv[0]"},
        BadCase{"argv NUL", {{"argv", {"ls", std::string("a\0b", 3)}}}, "argv[1]"},
        BadCase{"env name", {{"env", {{"A=B", "x"}}}}, "env.A=B"},
        BadCase{"env digit", {{"env", {{"1X", "x"}}}}, "env.1X"},
        BadCase{"env value type", {{"env", {{"X", 1}}}}, "env.X"},
        BadCase{"workspace relative", {{"workspace", "ws"}}, "workspace"},
        BadCase{"workspace dotdot", {{"workspace", "/srv/../etc"}}, "workspace"},
        BadCase{"workspace root", {{"workspace", "/"}}, "workspace"},
        BadCase{"workspace missing", {{"workspace", nullptr}}, "workspace"},
        BadCase{"mount source relative", {{"mounts", {{{"source", "d"}, {"target", "/d"}}}}}, "mounts[0].source"},
        BadCase{"mount target relative", {{"mounts", {{{"source", "/d"}, {"target", "d"}}}}}, "mounts[0].target"},
        BadCase{"mount over proc", {{"mounts", {{{"source", "/d"}, {"target", "/proc/x"}}}}}, "mounts[0].target"},
        BadCase{"mount over dev", {{"mounts", {{{"source", "/d"}, {"target", "/dev"}}}}}, "mounts[0].target"},
        BadCase{"mount over usr", {{"mounts", {{{"source", "/d"}, {"target", "/usr/lib/x"}}}}}, "mounts[0].target"},
        BadCase{"mount over etc", {{"mounts", {{{"source", "/d"}, {"target", "/etc"}}}}}, "mounts[0].target"},
        BadCase{"mount over workspace", {{"mounts", {{{"source", "/d"}, {"target", "/workspace"}}}}}, "mounts[0].target"},
        BadCase{"mount at root", {{"mounts", {{{"source", "/d"}, {"target", "/"}}}}}, "mounts[0].target"},
        BadCase{"mount dotdot", {{"mounts", {{{"source", "/d"}, {"target", "/data/../usr"}}}}}, "mounts[0].target"},
        BadCase{"mount overlap",
                {{"mounts", {{{"source", "/d"}, {"target", "/data"}}, {{"source", "/e"}, {"target", "/data/x"}}}}},
                "mounts[1].target"},
        BadCase{"mount unknown key", {{"mounts", {{{"source", "/d"}, {"target", "/d"}, {"rw", true}}}}}, "mounts[0].rw"},
        BadCase{"mount writable type", {{"mounts", {{{"source", "/d"}, {"target", "/d"}, {"writable", "yes"}}}}},
                "mounts[0].writable"},
        BadCase{"rootfs relative", {{"rootfs", "img"}}, "rootfs"},
        BadCase{"uid root", {{"uid", 0}}, "uid"},
        BadCase{"uid negative", {{"uid", -5}}, "uid"},
        BadCase{"uid huge", {{"uid", 4294967295ll}}, "uid"},
        BadCase{"gid root", {{"uid", 1000}, {"gid", 0}}, "gid"},
        BadCase{"gid without uid", {{"gid", 1000}}, "gid"},
        BadCase{"network type", {{"network", "no"}}, "network"},
        BadCase{"gpu negative", {{"gpus", {-1}}}, "gpus[0]"},
        BadCase{"gpu dup", {{"gpus", {1, 1}}}, "gpus[1]"},
        BadCase{"hostname", {{"hostname", "a b"}}, "hostname"},
        BadCase{"limits type", {{"limits", 5}}, "limits"},
        BadCase{"limits unknown", {{"limits", {{"disk", 1}}}}, "limits.disk"},
        BadCase{"memory zero", {{"limits", {{"memory_bytes", 0}}}}, "limits.memory_bytes"},
        BadCase{"memory tiny", {{"limits", {{"memory_bytes", 4096}}}}, "limits.memory_bytes"},
        BadCase{"memory float", {{"limits", {{"memory_bytes", 1.5e9}}}}, "limits.memory_bytes"},
        BadCase{"cpus zero", {{"limits", {{"cpus", 0}}}}, "limits.cpus"},
        BadCase{"cpus huge", {{"limits", {{"cpus", 1e9}}}}, "limits.cpus"},
        BadCase{"pids zero", {{"limits", {{"pids", 0}}}}, "limits.pids"},
        BadCase{"wall negative", {{"limits", {{"wall_ms", -1}}}}, "limits.wall_ms"},
        BadCase{"grace negative", {{"limits", {{"kill_grace_ms", -1}}}}, "limits.kill_grace_ms"},
        BadCase{"output zero", {{"limits", {{"output_bytes", 0}}}}, "limits.output_bytes"},
        BadCase{"stdout relative", {{"stdout_path", "out.txt"}}, "stdout_path"},
        BadCase{"stderr dotdot", {{"stderr_path", "/a/../b"}}, "stderr_path"},
        BadCase{"cgroup parent abs", {{"cgroup_parent", "/atrium"}}, "cgroup_parent"},
        BadCase{"cgroup parent dotdot", {{"cgroup_parent", "atrium/../x"}}, "cgroup_parent"},
        BadCase{"cgroup parent chars", {{"cgroup_parent", "a b"}}, "cgroup_parent"}),
    [](const auto& info) {
      std::string n = info.param.name;
      for (auto& c : n)
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
      return n;
    });

TEST(SandboxSpec, NotAnObject) {
  EXPECT_FALSE(spec_from_json(json::array()));
  EXPECT_FALSE(spec_from_json(json("x")));
}

TEST(SandboxSpec, ValidateCatchesCodeBuiltSpecs) {
  Spec s;
  s.id = "x";
  s.workspace = "/w";
  EXPECT_FALSE(validate(s));  // no argv
  s.argv = {"true"};
  EXPECT_TRUE(validate(s));
  s.limits.pids = 0;
  EXPECT_FALSE(validate(s));
}

TEST(SandboxSpec, SecretsAreAddedNeverSerialised) {
  auto s = spec_from_json(json{{"id", "job-1"}, {"argv", {"/bin/true"}}, {"workspace", "/srv/ws"},
                               {"env", {{"PLAIN", "1"}}}});
  ASSERT_TRUE(s);
  ASSERT_TRUE(add_secrets(*s, json{{"env", {{"API_KEY", "sk-value"}}}, {"files", {{"CERT", "pem-value"}}}}));
  EXPECT_EQ(s->env.at("API_KEY"), "sk-value");
  EXPECT_EQ(s->secret_files.at("CERT"), "pem-value");
  const std::string text = to_json(*s).dump();
  EXPECT_EQ(text.find("pem-value"), std::string::npos);
  EXPECT_EQ(text.find("CERT"), std::string::npos);
  // A secret never replaces a variable the spec has; bad shapes and names are refused, naming no value.
  auto again = add_secrets(*s, json{{"env", {{"PLAIN", "other-value"}}}});
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().detail.find("other-value"), std::string::npos);
  for (const json& bad : {json::array(), json{{"files", {{"A", 1}}}}, json{{"files", {{"../x", "v"}}}},
                          json{{"files", {{"BIG", std::string(5u << 20, 'x')}}}}, json{{"env", {{"A=B", "v"}}}}}) {
    Spec copy = *s;
    EXPECT_FALSE(add_secrets(copy, bad)) << bad.dump().substr(0, 80);
  }
}

TEST(SandboxOutcome, RoundTrip) {
  Outcome o;
  o.kind = "oom";
  o.exit_code = 137;
  o.signal = 9;
  o.cpu_seconds = 1.25;
  o.peak_memory_bytes = 1 << 20;
  o.wall_ms = 321;
  o.started_ms = 1'700'000'000'000;
  o.ended_ms = 1'700'000'000'321;
  o.stdout_truncated = true;
  o.enforced = {{"memory", "cgroup-v1"}, {"wall", "timer"}};
  o.detail = "x";
  auto back = outcome_from_json(to_json(o));
  ASSERT_TRUE(back) << back.error().detail;
  EXPECT_EQ(to_json(*back), to_json(o));
  auto bad = to_json(o);
  bad["kind"] = "exploded";
  EXPECT_FALSE(outcome_from_json(bad));
  bad = to_json(o);
  bad["enforced"]["memory"] = 1;
  EXPECT_FALSE(outcome_from_json(bad));
}

TEST(SandboxOutcome, ExitStatus) {
  Outcome o;
  o.kind = "exited";
  o.exit_code = 3;
  EXPECT_EQ(exit_status(o), 3);
  o.kind = "signaled";
  o.signal = 15;
  EXPECT_EQ(exit_status(o), 143);
  o.kind = "timeout";
  EXPECT_EQ(exit_status(o), 124);
  o.kind = "oom";
  EXPECT_EQ(exit_status(o), 137);
  o.kind = "setup_failed";
  EXPECT_EQ(exit_status(o), 125);
}

}  // namespace
}  // namespace atrium::sandbox

namespace atrium::sandbox {
namespace {

TEST(SandboxSpec, RootInsideAndWritableRootfs) {
  auto j = nlohmann::json{{"id", "b-1"}, {"argv", {"/bin/sh"}}, {"workspace", "/srv/ws"}, {"rootfs", "/srv/b/rootfs"},
                          {"rootfs_writable", true}, {"root_inside", true}, {"uid", 2000001}};
  auto s = spec_from_json(j);
  ASSERT_TRUE(s) << s.error().detail;
  EXPECT_TRUE(s->rootfs_writable);
  EXPECT_TRUE(s->root_inside);
  auto back = to_json(*s);
  EXPECT_EQ(back["rootfs_writable"], true);
  EXPECT_EQ(back["root_inside"], true);
  // Never the host's root writable; the spec's own uid is still never 0.
  j.erase("rootfs");
  auto host = spec_from_json(j);
  ASSERT_FALSE(host);
  EXPECT_NE(host.error().detail.find("rootfs_writable"), std::string::npos);
  j["rootfs"] = "/srv/b/rootfs";
  j["uid"] = 0;
  EXPECT_FALSE(spec_from_json(j));
  // Defaults: neither.
  auto plain = spec_from_json(nlohmann::json{{"id", "j"}, {"argv", {"/bin/true"}}, {"workspace", "/w"}});
  ASSERT_TRUE(plain);
  EXPECT_FALSE(plain->rootfs_writable || plain->root_inside);
  EXPECT_FALSE(to_json(*plain).contains("root_inside"));
}

}  // namespace
}  // namespace atrium::sandbox
