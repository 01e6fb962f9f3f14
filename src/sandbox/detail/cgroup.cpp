#include "sandbox/detail/cgroup.hpp"

#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cmath>
#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "sandbox/detail/sys.hpp"

namespace atrium::sandbox::detail {

namespace {

// The v1 controllers a job cgroup is created in (cpuset and blkio are left alone: cpuset needs
// cpus/mems copied in before it takes processes, and neither is a limit we offer).
constexpr const char* kV1Controllers[] = {"memory", "pids", "cpu", "cpuacct", "devices"};
constexpr const char* kV2Controllers[] = {"memory", "pids", "cpu"};

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  std::istringstream in(s);
  while (std::getline(in, cur, sep)) out.push_back(cur);
  return out;
}

bool kernel_at_least(int major, int minor) {
  struct utsname u;
  if (::uname(&u) != 0) return false;
  int ma = 0, mi = 0;
  if (std::sscanf(u.release, "%d.%d", &ma, &mi) != 2) return false;
  return ma > major || (ma == major && mi >= minor);
}

// mkdir -p of root/rel, one component at a time; true if it exists afterwards.
int mkdir_under(const std::string& root, const std::string& rel, std::vector<std::string>* created = nullptr) {
  std::string path = root;
  for (const auto& comp : split(rel, '/')) {
    if (comp.empty()) continue;
    path += "/" + comp;
    if (::mkdir(path.c_str(), 0755) == 0) {
      if (created) created->push_back(path);
    } else if (errno != EEXIST) {
      return errno;
    }
  }
  return 0;
}

bool procs_empty(const std::string& dir) {
  auto procs = read_file(dir + "/cgroup.procs");
  return !procs || procs->find_first_not_of(" \n") == std::string::npos;
}

void kill_procs(const std::string& dir) {
  auto procs = read_file(dir + "/cgroup.procs");
  if (!procs) return;
  std::istringstream in(*procs);
  pid_t pid;
  while (in >> pid) ::kill(pid, SIGKILL);
}

// rmdir with a short retry: right after the last process is reaped the kernel may still hold
// the cgroup for a moment (EBUSY).
bool remove_dir(const std::string& dir) {
  for (int i = 0; i < 500; ++i) {
    if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) return true;
    if (errno != EBUSY) return false;
    if (i % 20 == 19) kill_procs(dir);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return false;
}

// A job directory <root>/<parent>/<id>: a stale empty one (from a supervisor that was killed) is
// replaced; a busy one is an error, never joined.
Result<std::string> fresh_job_dir(const std::string& root, const Spec& spec, std::string& notes) {
  if (int e = mkdir_under(root, spec.cgroup_parent)) {
    notes += fmt::format("cannot create {}/{}: {}; ", root, spec.cgroup_parent, errno_text(e));
    return std::string();
  }
  std::string dir = root + "/" + spec.cgroup_parent + "/" + spec.id;
  if (is_dir(dir)) {
    if (!procs_empty(dir))
      return fail(ErrorCode::kFailedPrecondition, "sandbox-busy",
                  fmt::format("cgroup {} still has processes: a job with id {} is running", dir, spec.id));
    remove_dir(dir);
  }
  if (::mkdir(dir.c_str(), 0755) != 0) {
    notes += fmt::format("cannot create {}: {}; ", dir, errno_text(errno));
    return std::string();
  }
  return dir;
}

class V1Cgroup final : public JobCgroup {
 public:
  Status init(const CgroupLayout& layout, const Spec& spec, const std::vector<DeviceRule>& devices) {
    for (const char* c : kV1Controllers) {
      auto it = layout.v1.find(c);
      if (it == layout.v1.end()) continue;
      const std::string& mount = it->second;
      if (auto done = by_mount_.find(mount); done != by_mount_.end()) {  // cpu,cpuacct co-mounted
        ctrl_[c] = done->second;
        continue;
      }
      auto dir = TRY(fresh_job_dir(mount, spec, notes_));
      if (dir.empty()) continue;
      by_mount_[mount] = dir;
      ctrl_[c] = dir;
      dirs_.push_back(dir);
    }
    if (layout.unified_writable) {
      unified_ = TRY(fresh_job_dir(layout.unified, spec, notes_));
      if (!unified_.empty()) dirs_.push_back(unified_);
      kill_by_cgroup_ = !unified_.empty() && path_exists(unified_ + "/cgroup.kill");
    }
    const auto& l = spec.limits;
    if (l.memory_bytes && ctrl_.contains("memory")) {
      const auto& d = ctrl_["memory"];
      auto v = std::to_string(*l.memory_bytes);
      if (int e = write_file(d + "/memory.limit_in_bytes", v)) {
        notes_ += fmt::format("memory.limit_in_bytes: {}; ", errno_text(e));
      } else {
        enforced_["memory"] = "cgroup-v1";
        // memsw = memory + swap: the same figure means "no swap on top".
        if (path_exists(d + "/memory.memsw.limit_in_bytes")) {
          if (int e2 = write_file(d + "/memory.memsw.limit_in_bytes", v))
            notes_ += fmt::format("memory.memsw.limit_in_bytes: {} (swap not limited); ", errno_text(e2));
          else
            enforced_["swap"] = "cgroup-v1";
        } else {
          notes_ += "no memory.memsw (swap accounting off): swap not limited; ";
        }
      }
    }
    if (l.pids && ctrl_.contains("pids")) {
      // +1: the sandbox's own init (the reaper) is in the cgroup too.
      if (int e = write_file(ctrl_["pids"] + "/pids.max", std::to_string(*l.pids + 1)))
        notes_ += fmt::format("pids.max: {}; ", errno_text(e));
      else
        enforced_["pids"] = "cgroup-v1";
    }
    if (l.cpus && ctrl_.contains("cpu")) {
      const auto& d = ctrl_["cpu"];
      long quota = std::max(1000L, std::lround(*l.cpus * 100000));
      int e = write_file(d + "/cpu.cfs_period_us", "100000");
      if (!e) e = write_file(d + "/cpu.cfs_quota_us", std::to_string(quota));
      if (e)
        notes_ += fmt::format("cpu.cfs_quota_us: {}; ", errno_text(e));
      else
        enforced_["cpu"] = "cgroup-v1";
    }
    if (ctrl_.contains("devices")) {
      const auto& d = ctrl_["devices"];
      int e = write_file(d + "/devices.deny", "a");
      for (const auto& r : devices) {
        if (e) break;
        e = write_file(d + "/devices.allow", r.minor < 0 ? fmt::format("{} {}:* rwm", r.type, r.major)
                                                         : fmt::format("{} {}:{} rwm", r.type, r.major, r.minor));
      }
      if (e)
        notes_ += fmt::format("devices cgroup: {}; ", errno_text(e));
      else
        enforced_["devices"] = "cgroup-v1";
    }
    return {};
  }

  Status join(pid_t pid) override {
    auto p = std::to_string(pid);
    for (const auto& d : dirs_)
      if (int e = write_file(d + "/cgroup.procs", p))
        return internal(fmt::format("join {}: {}", d, errno_text(e)));
    return {};
  }

  void kill_all() override {
    if (kill_by_cgroup_ && write_file(unified_ + "/cgroup.kill", "1") == 0) return;
    for (const auto& d : dirs_) kill_procs(d);
  }

  CgroupStats stats() override {
    CgroupStats s;
    if (ctrl_.contains("cpuacct")) {
      if (auto ns = read_int(ctrl_["cpuacct"] + "/cpuacct.usage")) s.cpu_seconds = static_cast<double>(*ns) / 1e9;
    }
    if (!s.cpu_seconds && !unified_.empty()) {
      if (auto us = read_keyed(unified_ + "/cpu.stat", "usage_usec")) s.cpu_seconds = static_cast<double>(*us) / 1e6;
    }
    if (ctrl_.contains("memory")) {
      s.peak_memory_bytes = read_int(ctrl_["memory"] + "/memory.max_usage_in_bytes");
      s.oom_kills = read_keyed(ctrl_["memory"] + "/memory.oom_control", "oom_kill").value_or(0);
    }
    return s;
  }

  void remove() override {
    for (const auto& d : dirs_) {
      if (!procs_empty(d)) kill_all();
      if (!remove_dir(d)) notes_ += fmt::format("could not remove {}; ", d);
    }
    dirs_.clear();
  }

 private:
  std::map<std::string, std::string> by_mount_;  // mount point -> job dir
  std::map<std::string, std::string> ctrl_;      // controller -> job dir
  std::vector<std::string> dirs_;                // every job dir, removed at the end
  std::string unified_;
};

class V2Cgroup final : public JobCgroup {
 public:
  Status init(const CgroupLayout& layout, const Spec& spec) {
    std::string want;
    for (const char* c : kV2Controllers)
      if (layout.v2_controllers.contains(c)) want += fmt::format("{}+{}", want.empty() ? "" : " ", c);
    // Enable the controllers from the base down to <parent>: none of these directories holds a
    // process (the "no internal processes" rule), except the base itself when it is our own
    // cgroup (unprivileged delegation); then this process moves into a leaf first.
    std::string dir = layout.v2_base;
    int e = write_file(dir + "/cgroup.subtree_control", want);
    if (e == EBUSY) {
      std::string leaf = fmt::format("{}/atrium-supervisor-{}", dir, ::getpid());
      if (::mkdir(leaf.c_str(), 0755) == 0 && write_file(leaf + "/cgroup.procs", std::to_string(::getpid())) == 0)
        e = write_file(dir + "/cgroup.subtree_control", want);
      notes_ += fmt::format("moved the supervisor into {}; ", leaf);
    }
    if (e) notes_ += fmt::format("{}/cgroup.subtree_control: {}; ", dir, errno_text(e));
    for (const auto& comp : split(spec.cgroup_parent, '/')) {
      dir += "/" + comp;
      if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
        notes_ += fmt::format("cannot create {}: {}; ", dir, errno_text(errno));
        return {};
      }
      if (int e2 = write_file(dir + "/cgroup.subtree_control", want))
        notes_ += fmt::format("{}/cgroup.subtree_control: {}; ", dir, errno_text(e2));
    }
    dir_ = TRY(fresh_job_dir(layout.v2_base, spec, notes_));
    if (dir_.empty()) return {};
    kill_by_cgroup_ = path_exists(dir_ + "/cgroup.kill");
    const auto& l = spec.limits;
    if (l.memory_bytes && path_exists(dir_ + "/memory.max")) {
      if (int e2 = write_file(dir_ + "/memory.max", std::to_string(*l.memory_bytes))) {
        notes_ += fmt::format("memory.max: {}; ", errno_text(e2));
      } else {
        enforced_["memory"] = "cgroup-v2";
        if (path_exists(dir_ + "/memory.swap.max") && write_file(dir_ + "/memory.swap.max", "0") == 0)
          enforced_["swap"] = "cgroup-v2";
        else
          notes_ += "memory.swap.max not set: swap not limited; ";
        // One OOM kills the whole job, so the outcome is a clean "oom".
        write_file(dir_ + "/memory.oom.group", "1");
      }
    }
    if (l.pids && path_exists(dir_ + "/pids.max")) {
      if (int e2 = write_file(dir_ + "/pids.max", std::to_string(*l.pids + 1)))
        notes_ += fmt::format("pids.max: {}; ", errno_text(e2));
      else
        enforced_["pids"] = "cgroup-v2";
    }
    if (l.cpus && path_exists(dir_ + "/cpu.max")) {
      long quota = std::max(1000L, std::lround(*l.cpus * 100000));
      if (int e2 = write_file(dir_ + "/cpu.max", fmt::format("{} 100000", quota)))
        notes_ += fmt::format("cpu.max: {}; ", errno_text(e2));
      else
        enforced_["cpu"] = "cgroup-v2";
    }
    return {};
  }

  bool ok() const { return !dir_.empty(); }

  Status join(pid_t pid) override {
    if (int e = write_file(dir_ + "/cgroup.procs", std::to_string(pid)))
      return internal(fmt::format("join {}: {}", dir_, errno_text(e)));
    return {};
  }

  void kill_all() override {
    if (kill_by_cgroup_ && write_file(dir_ + "/cgroup.kill", "1") == 0) return;
    kill_procs(dir_);
  }

  CgroupStats stats() override {
    CgroupStats s;
    if (auto us = read_keyed(dir_ + "/cpu.stat", "usage_usec")) s.cpu_seconds = static_cast<double>(*us) / 1e6;
    s.peak_memory_bytes = read_int(dir_ + "/memory.peak");
    s.oom_kills = read_keyed(dir_ + "/memory.events", "oom_kill").value_or(0);
    return s;
  }

  void remove() override {
    if (dir_.empty()) return;
    if (!procs_empty(dir_)) kill_all();
    if (!remove_dir(dir_)) notes_ += fmt::format("could not remove {}; ", dir_);
    dir_.clear();
  }

 private:
  std::string dir_;
};

}  // namespace

std::vector<std::string> CgroupLayout::controllers() const {
  std::vector<std::string> out;
  if (mode == "v1") {
    for (const char* c : kV1Controllers)
      if (v1.contains(c)) out.push_back(c);
  } else if (mode == "v2") {
    for (const char* c : kV2Controllers)
      if (v2_controllers.contains(c)) out.push_back(c);
  }
  return out;
}

CgroupLayout detect_cgroup_layout() {
  CgroupLayout l;
  std::ifstream mi("/proc/self/mountinfo");
  std::string line;
  while (std::getline(mi, line)) {
    // id parent maj:min root mountpoint options [optional...] - fstype source superoptions
    auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream pre(line.substr(0, dash)), post(line.substr(dash + 3));
    std::string id, parent, dev, root, mnt, fstype, source, super;
    pre >> id >> parent >> dev >> root >> mnt;
    post >> fstype >> source >> super;
    if (fstype == "cgroup2") {
      if (l.unified.empty()) l.unified = mnt;
    } else if (fstype == "cgroup") {
      for (const auto& opt : split(super, ','))
        for (const char* c : kV1Controllers)
          if (opt == c && !l.v1.contains(c)) l.v1[c] = mnt;
    }
  }
  l.cgroup_kill = !l.unified.empty() && kernel_at_least(5, 14);
  bool root = ::geteuid() == 0;
  bool v1_limits = l.v1.contains("memory") || l.v1.contains("pids") || l.v1.contains("cpu");
  if (v1_limits) {
    for (const auto& [c, mnt] : l.v1)
      if (::access(mnt.c_str(), W_OK) == 0) l.mode = "v1";
    l.unified_writable = !l.unified.empty() && ::access(l.unified.c_str(), W_OK) == 0;
    return l;
  }
  if (l.unified.empty()) return l;
  // Pure cgroup2. Root creates job parents at the top of the tree; an unprivileged user only in
  // its own (delegated) cgroup.
  std::string own;
  if (auto self = read_file("/proc/self/cgroup")) {
    std::istringstream in(*self);
    while (std::getline(in, line))
      if (line.rfind("0::", 0) == 0) own = line.substr(3);
  }
  l.v2_base = root ? l.unified : l.unified + (own == "/" ? "" : own);
  if (auto ctl = read_file(l.v2_base + "/cgroup.controllers")) {
    std::istringstream in(*ctl);
    std::string c;
    while (in >> c) l.v2_controllers.insert(c);
  }
  bool any = false;
  for (const char* c : kV2Controllers) any = any || l.v2_controllers.contains(c);
  if (any && ::access(l.v2_base.c_str(), W_OK) == 0) l.mode = "v2";
  return l;
}

const CgroupLayout& cgroup_layout() {
  static const CgroupLayout layout = detect_cgroup_layout();
  return layout;
}

Result<std::unique_ptr<JobCgroup>> create_job_cgroup(const CgroupLayout& layout, const Spec& spec,
                                                     const std::vector<DeviceRule>& devices, std::string& notes) {
  if (layout.mode == "v1") {
    auto cg = std::make_unique<V1Cgroup>();
    if (auto st = cg->init(layout, spec, devices); !st) {
      cg->remove();
      return std::unexpected(st.error());
    }
    return std::unique_ptr<JobCgroup>(std::move(cg));
  }
  if (layout.mode == "v2") {
    auto cg = std::make_unique<V2Cgroup>();
    if (auto st = cg->init(layout, spec); !st) {
      cg->remove();
      return std::unexpected(st.error());
    }
    if (!cg->ok()) {  // the caller falls back to rlimits
      notes += cg->notes();
      return std::unique_ptr<JobCgroup>();
    }
    return std::unique_ptr<JobCgroup>(std::move(cg));
  }
  return std::unique_ptr<JobCgroup>();
}

}  // namespace atrium::sandbox::detail
