// run() end to end, in this process. Needs user namespaces (true on the dev and CI boxes); the
// escape attempts are in tests/integration/test_sandbox.py.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "sandbox/detail/cgroup.hpp"
#include "sandbox/sandbox.hpp"

namespace atrium::sandbox {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "atrium-sbx-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
    ::chmod(path_.c_str(), 0755);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string slurp(const std::string& p) {
  std::ifstream in(p);
  return {std::istreambuf_iterator<char>(in), {}};
}

Spec base_spec(const TempDir& dir, std::vector<std::string> argv) {
  static int n = 0;
  Spec s;
  s.id = "unit-" + std::to_string(::getpid()) + "-" + std::to_string(n++);
  s.argv = std::move(argv);
  s.workspace = dir.path() + "/ws";
  fs::create_directories(s.workspace);
  s.uid = 23456;
  s.gid = 23456;
  ::chown(s.workspace.c_str(), 23456, 23456);
  s.stdout_path = dir.path() + "/out";
  s.stderr_path = dir.path() + "/err";
  s.limits.kill_grace_ms = 200;
  return s;
}

bool usable() { return probe().user_namespaces && probe().seccomp; }

TEST(SandboxProbe, Sane) {
  const auto& c = probe();
  EXPECT_TRUE(c.cgroup_mode == "v1" || c.cgroup_mode == "v2" || c.cgroup_mode == "none") << c.cgroup_mode;
  EXPECT_EQ(&c, &probe());  // cached
  if (::geteuid() != 0) {
    EXPECT_FALSE(c.root);
  }
  if (c.cgroup_mode == "none") {
    EXPECT_TRUE(c.cgroup_controllers.empty());
  }
  for (const auto& d : c.gpu_devices) EXPECT_EQ(d.rfind("/dev/nvidia", 0), 0u) << d;
  auto j = to_json(c);
  EXPECT_TRUE(j.contains("cgroup_mode"));
  EXPECT_TRUE(j["gpu_devices"].is_array());
}

TEST(SandboxRun, True) {
  if (!usable()) GTEST_SKIP() << "no user namespaces or seccomp here";
  TempDir d;
  auto o = run(base_spec(d, {"/bin/true"}));
  ASSERT_TRUE(o) << o.error().detail;
  EXPECT_EQ(o->kind, "exited") << o->detail;
  EXPECT_EQ(o->exit_code, 0);
  EXPECT_GE(o->ended_ms, o->started_ms);
  EXPECT_EQ(o->enforced.at("seccomp"), "allow-list");
  EXPECT_EQ(o->enforced.at("network"), "netns");
  EXPECT_EQ(o->enforced.at("uid"), probe().root ? "per-user" : "caller");
}

TEST(SandboxRun, ExitCodeAndOutput) {
  if (!usable()) GTEST_SKIP() << "no user namespaces or seccomp here";
  TempDir d;
  auto s = base_spec(d, {"sh", "-c", "echo out; echo err >&2; id -u; exit 3"});
  int started = 0;
  RunHooks hooks;
  hooks.on_started = [&](int pid) { started = pid; };
  auto o = run(s, hooks);
  ASSERT_TRUE(o) << o.error().detail;
  EXPECT_EQ(o->kind, "exited") << o->detail;
  EXPECT_EQ(o->exit_code, 3);
  EXPECT_GT(started, 0);
  std::string expect_uid = probe().root ? "23456" : std::to_string(::getuid());
  EXPECT_EQ(slurp(s.stdout_path), "out\n" + expect_uid + "\n");
  EXPECT_EQ(slurp(s.stderr_path), "err\n");
  EXPECT_EQ(exit_status(*o), 3);
}

TEST(SandboxRun, Signaled) {
  if (!usable()) GTEST_SKIP() << "no user namespaces or seccomp here";
  TempDir d;
  auto o = run(base_spec(d, {"sh", "-c", "kill -KILL $$"}));
  ASSERT_TRUE(o) << o.error().detail;
  EXPECT_EQ(o->kind, "signaled") << o->detail;
  EXPECT_EQ(o->signal, 9);
  EXPECT_EQ(o->exit_code, 137);
}

TEST(SandboxRun, CommandNotFoundIsSetupFailure) {
  if (!usable()) GTEST_SKIP() << "no user namespaces or seccomp here";
  TempDir d;
  auto o = run(base_spec(d, {"no-such-command-xyz"}));
  ASSERT_TRUE(o) << o.error().detail;
  EXPECT_EQ(o->kind, "setup_failed");
  EXPECT_NE(o->detail.find("exec no-such-command-xyz"), std::string::npos) << o->detail;
  EXPECT_NE(o->detail.find("ENOENT"), std::string::npos) << o->detail;
}

TEST(SandboxRun, MissingWorkspaceIsSetupFailure) {
  if (!usable()) GTEST_SKIP() << "no user namespaces or seccomp here";
  TempDir d;
  auto s = base_spec(d, {"/bin/true"});
  s.workspace = d.path() + "/absent";
  auto o = run(s);
  ASSERT_TRUE(o) << o.error().detail;
  EXPECT_EQ(o->kind, "setup_failed");
  EXPECT_NE(o->detail.find("workspace"), std::string::npos) << o->detail;
}

TEST(SandboxRun, InvalidSpecIsAnError) {
  Spec s;
  s.id = "bad id";
  auto o = run(s);
  ASSERT_FALSE(o);
  EXPECT_EQ(o.error().code, ErrorCode::kInvalidArgument);
}

TEST(SandboxRun, TimeoutKillsAndCleansUp) {
  if (!usable()) GTEST_SKIP() << "no user namespaces or seccomp here";
  TempDir d;
  auto s = base_spec(d, {"sh", "-c", "trap '' TERM; sleep 30"});
  s.limits.wall_ms = 200;
  s.limits.kill_grace_ms = 100;
  auto o = run(s);
  ASSERT_TRUE(o) << o.error().detail;
  EXPECT_EQ(o->kind, "timeout") << o->detail;
  EXPECT_EQ(exit_status(*o), 124);
  EXPECT_LT(o->wall_ms, 10'000);
  EXPECT_EQ(o->enforced.at("wall"), "timer");
  const auto& layout = detail::cgroup_layout();
  for (const auto& [ctrl, mnt] : layout.v1) EXPECT_FALSE(fs::exists(mnt + "/atrium/" + s.id)) << ctrl;
  if (!layout.unified.empty()) {
    EXPECT_FALSE(fs::exists(layout.unified + "/atrium/" + s.id));
  }
}

TEST(SandboxRun, EnforcedMatchesTheCgroupMode) {
  if (!usable()) GTEST_SKIP() << "no user namespaces or seccomp here";
  TempDir d;
  auto s = base_spec(d, {"/bin/true"});
  s.limits.memory_bytes = 256 << 20;
  s.limits.pids = 50;
  s.limits.cpus = 1;
  auto o = run(s);
  ASSERT_TRUE(o) << o.error().detail;
  EXPECT_EQ(o->kind, "exited") << o->detail;
  const auto& mode = probe().cgroup_mode;
  if (mode == "none") {
    EXPECT_EQ(o->enforced.at("memory"), "rlimit");
    EXPECT_EQ(o->enforced.at("pids"), "rlimit");
    EXPECT_FALSE(o->enforced.contains("cpu"));
  } else {
    EXPECT_EQ(o->enforced.at("memory"), "cgroup-" + mode) << o->detail;
    EXPECT_EQ(o->enforced.at("pids"), "cgroup-" + mode) << o->detail;
    EXPECT_EQ(o->enforced.at("cpu"), "cgroup-" + mode) << o->detail;
  }
}

}  // namespace
}  // namespace atrium::sandbox
