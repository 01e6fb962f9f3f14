// The cgroup backends against this host's real cgroupfs (root only; skipped otherwise). The v2
// backend is driven over the hybrid host's controller-less unified tree: it must track and kill,
// and must claim no limit whose controller is absent.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "sandbox/detail/cgroup.hpp"
#include "sandbox/detail/sys.hpp"
#include "sandbox/sandbox.hpp"

namespace atrium::sandbox::detail {
namespace {

namespace fs = std::filesystem;

Spec spec_for(const std::string& id) {
  Spec s;
  s.id = id;
  s.argv = {"true"};
  s.workspace = "/tmp";
  s.cgroup_parent = "atrium-test";
  s.limits.memory_bytes = 64 << 20;
  s.limits.pids = 10;
  s.limits.cpus = 0.5;
  return s;
}

// A child that waits until killed.
pid_t blocked_child() {
  pid_t pid = ::fork();
  if (pid == 0) {
    ::pause();
    _exit(0);
  }
  return pid;
}

bool in_procs(const std::string& dir, pid_t pid) {
  auto procs = read_file(dir + "/cgroup.procs");
  return procs && (("\n" + *procs).find("\n" + std::to_string(pid) + "\n") != std::string::npos);
}

void exercise(JobCgroup& cg, const std::vector<std::string>& dirs) {
  pid_t child = blocked_child();
  ASSERT_GT(child, 0);
  ASSERT_TRUE(cg.join(child));
  for (const auto& d : dirs) EXPECT_TRUE(in_procs(d, child)) << d;
  cg.kill_all();
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  (void)cg.stats();
  cg.remove();
  for (const auto& d : dirs) EXPECT_FALSE(fs::exists(d)) << d;
}

TEST(SandboxCgroup, LayoutMatchesProbe) {
  const auto& l = cgroup_layout();
  EXPECT_EQ(l.mode, probe().cgroup_mode);
  EXPECT_EQ(l.controllers(), probe().cgroup_controllers);
}

TEST(SandboxCgroup, V1Backend) {
  const auto& l = cgroup_layout();
  if (l.mode != "v1" || ::geteuid() != 0) GTEST_SKIP() << "not a writable v1 host";
  auto s = spec_for("v1-" + std::to_string(::getpid()));
  std::string notes;
  auto cg = create_job_cgroup(l, s, {{'c', 1, 3}}, notes);
  ASSERT_TRUE(cg) << cg.error().detail;
  ASSERT_TRUE(*cg) << notes;
  std::vector<std::string> dirs;
  for (const auto& [c, mnt] : l.v1) dirs.push_back(mnt + "/atrium-test/" + s.id);
  if (l.v1.contains("memory")) {
    EXPECT_EQ((*cg)->enforced().at("memory"), "cgroup-v1");
    EXPECT_EQ(read_int(l.v1.at("memory") + "/atrium-test/" + s.id + "/memory.limit_in_bytes"), 64 << 20);
  }
  if (l.v1.contains("pids")) {
    EXPECT_EQ(read_file(l.v1.at("pids") + "/atrium-test/" + s.id + "/pids.max"), "11\n");  // + the init
  }
  if (l.v1.contains("cpu")) {
    EXPECT_EQ(read_int(l.v1.at("cpu") + "/atrium-test/" + s.id + "/cpu.cfs_quota_us"), 50000);
  }
  // A second job with the same id while the first is alive is refused.
  pid_t child = blocked_child();
  ASSERT_TRUE((*cg)->join(child));
  auto again = create_job_cgroup(l, s, {}, notes);
  EXPECT_FALSE(again);
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  exercise(**cg, dirs);
  for (const auto& [c, mnt] : l.v1) ::rmdir((mnt + "/atrium-test").c_str());
  if (!l.unified.empty()) ::rmdir((l.unified + "/atrium-test").c_str());
}

TEST(SandboxCgroup, V2BackendClaimsOnlyWhatExists) {
  const auto& real = cgroup_layout();
  if (real.unified.empty() || ::geteuid() != 0) GTEST_SKIP() << "no writable cgroup2 tree";
  CgroupLayout l;
  l.mode = "v2";
  l.unified = real.unified;
  l.v2_base = real.unified;
  if (auto ctl = read_file(real.unified + "/cgroup.controllers")) {
    for (const char* c : {"memory", "pids", "cpu"})
      if (ctl->find(c) != std::string::npos) l.v2_controllers.insert(c);
  }
  auto s = spec_for("v2-" + std::to_string(::getpid()));
  std::string notes;
  auto cg = create_job_cgroup(l, s, {}, notes);
  ASSERT_TRUE(cg) << cg.error().detail;
  ASSERT_TRUE(*cg) << notes;
  std::string dir = real.unified + "/atrium-test/" + s.id;
  for (const char* c : {"memory", "pids", "cpu"}) {
    std::string file = std::string(c) == "memory" ? "/memory.max" : std::string(c) == "pids" ? "/pids.max" : "/cpu.max";
    if (!fs::exists(dir + file)) {
      EXPECT_FALSE((*cg)->enforced().contains(c)) << c;
    } else {
      EXPECT_EQ((*cg)->enforced().at(c), "cgroup-v2") << c;
    }
  }
  EXPECT_EQ((*cg)->kills_by_cgroup(), fs::exists(dir + "/cgroup.kill"));
  exercise(**cg, {dir});
  ::rmdir((real.unified + "/atrium-test").c_str());
}

}  // namespace
}  // namespace atrium::sandbox::detail
