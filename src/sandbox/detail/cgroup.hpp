// Job cgroups behind one small interface, with three backends chosen at run time:
//   v2   pure cgroup2 with delegated memory/pids/cpu controllers,
//   v1   v1 hierarchies (memory, pids, cpu, cpuacct, devices, freezer), plus the cgroup2 tree of a
//        hybrid host for tracking and cgroup.kill,
//   none nothing writable: the caller falls back to rlimits (see run.cpp).
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "sandbox/sandbox.hpp"

namespace atrium::sandbox::detail {

// What /proc/self/mountinfo and /proc/self/cgroup say, and what we may write.
struct CgroupLayout {
  std::string mode = "none";                 // "v2", "v1", "none"
  std::string unified;                       // cgroup2 mount point, "" if none
  std::map<std::string, std::string> v1;     // controller -> mount point of its v1 hierarchy
  std::string v2_base;                       // v2 mode: the directory job parents are created in
  std::set<std::string> v2_controllers;      // v2 mode: cgroup.controllers at v2_base
  bool unified_writable = false;             // hybrid: we may create dirs in the unified tree
  bool cgroup_kill = false;                  // the kernel offers cgroup.kill (>= 5.14)
  std::vector<std::string> controllers() const;  // what a job cgroup gets in `mode`
};
const CgroupLayout& cgroup_layout();  // detected once
// probe()'s root, user_namespaces and seccomp only (no GPU scan, no NVML load): what run() needs.
const Capabilities& launch_capabilities();
CgroupLayout detect_cgroup_layout();

struct CgroupStats {
  std::optional<double> cpu_seconds;
  std::optional<std::int64_t> peak_memory_bytes;
  std::int64_t oom_kills = 0;
};

struct DeviceRule {
  char type;     // 'c'
  int major;
  int minor;     // -1 = any
};

class JobCgroup {
 public:
  virtual ~JobCgroup() = default;
  // Puts pid (and so its future children) into every hierarchy of the job.
  virtual Status join(pid_t pid) = 0;
  // SIGKILLs every process in the job cgroup (cgroup.kill, or each pid of cgroup.procs).
  virtual void kill_all() = 0;
  virtual CgroupStats stats() = 0;
  // Kills what is left and removes the directories (retries briefly while the kernel lets go).
  virtual void remove() = 0;
  // What each limit is enforced by, for Outcome::enforced ("cgroup-v1", "cgroup-v2").
  const std::map<std::string, std::string>& enforced() const { return enforced_; }
  const std::string& notes() const { return notes_; }
  bool kills_by_cgroup() const { return kill_by_cgroup_; }

 protected:
  std::map<std::string, std::string> enforced_;
  std::string notes_;
  bool kill_by_cgroup_ = false;
};

// Creates <hierarchy>/<parent>/<id> wherever the layout allows and writes the limits it can.
// Limits it cannot enforce are left out of enforced() (the caller falls back to rlimits).
// Returns nullptr in "none" mode or when nothing could be created (why: appended to notes).
// An error only when a job cgroup with this id is still busy.
Result<std::unique_ptr<JobCgroup>> create_job_cgroup(const CgroupLayout& layout, const Spec& spec,
                                                     const std::vector<DeviceRule>& devices, std::string& notes);

}  // namespace atrium::sandbox::detail
