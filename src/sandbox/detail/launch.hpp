// The in-process launcher. The supervisor (run.cpp) builds a LaunchPlan with every path, string
// and BPF program the child needs, then clone()s; the child (the sandbox's init) only executes
// the plan: no allocation and no decisions after clone, so it is safe even in a threaded caller.
#pragma once

#include <linux/filter.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "sandbox/detail/cgroup.hpp"
#include "sandbox/detail/seccomp.hpp"
#include "sandbox/sandbox.hpp"

namespace atrium::sandbox::detail {

struct MountStep {
  enum class Op { kMkdir, kTouch, kSymlink, kBind, kTmpfs, kProc, kDevpts, kSetAttr, kWrite };
  Op op = Op::kMkdir;
  std::string src;   // bind: host path (realpath); symlink: the link's text
  std::string dst;   // under /newroot
  std::string data;  // tmpfs/devpts options; kWrite: the new file's content (0400; never in `what`)
  unsigned long flags = 0;  // mount(2) flags for tmpfs/proc/devpts
  std::uint64_t attr = 0;   // MOUNT_ATTR_* set after a bind, or by kSetAttr
  bool recursive = false;
  bool optional = false;    // failure is not fatal (devpts)
  std::string what;         // for error messages, in sandbox terms: "bind /usr"
};

// Messages from the sandbox's init to the supervisor over the report pipe (fixed size, so one
// write is atomic and one read gets a whole message).
struct ReportMsg {
  enum Kind : std::int32_t { kSetupError = 1, kExecOk = 2, kJobStatus = 3 };
  std::int32_t kind = 0;
  std::int32_t err = 0;     // errno for kSetupError
  std::int32_t status = 0;  // wait status for kJobStatus
  char step[244] = {};
};
static_assert(sizeof(ReportMsg) == 256);

inline constexpr int kSetupExitCode = 125;

struct LaunchPlan {
  uid_t uid = 0;
  gid_t gid = 0;
  bool clear_groups = false;  // root: setgroups(0) (unprivileged userns has setgroups denied)
  int clone_flags = 0;
  std::string hostname;
  std::string cwd;
  bool lo_up = false;
  std::string scratch_opts;  // the interim root's tmpfs options (owned by the job's uid)
  std::vector<MountStep> steps;
  std::vector<std::string> exec_candidates;  // argv[0] resolved against the job's PATH
  std::vector<std::string> argv_store, env_store;
  std::vector<char*> argv, envp;  // point into the stores; null-terminated
  std::vector<std::pair<int, rlim_t>> rlimits;  // applied in the job (lowered only)
  std::vector<sock_filter> seccomp;
  int cap_last = 40;
  // pipes: the child's ends and the parent's ends (closed in the child)
  int sync_rd = -1, report_wr = -1, out_wr = -1, err_wr = -1;
  int sync_wr = -1, report_rd = -1, out_rd = -1, err_rd = -1;
  // One slot per step: the child fills the kBind ones with detached mount trees (open_tree) while
  // it still walks host paths as their owner, before it becomes the job's uid.
  std::vector<int> tree_fds;

  // Filled by build_plan for the caller.
  std::vector<DeviceRule> devices;  // for the v1 devices cgroup
  std::vector<std::string> notes;
};

// Resolves paths (realpath; the workspace, mount sources and rootfs must exist) and lays out the
// sandbox's file system. failed_precondition when something on the host is missing.
Result<LaunchPlan> build_plan(const Spec& spec, uid_t uid, gid_t gid, bool clear_groups);

// clone() entry point of the sandbox's init (arg: LaunchPlan*).
int sandbox_init_main(void* arg);

}  // namespace atrium::sandbox::detail
