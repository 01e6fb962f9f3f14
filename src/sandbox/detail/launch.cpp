#include "sandbox/detail/launch.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <set>

#include <fmt/format.h>

#include "sandbox/detail/gpu.hpp"
#include "sandbox/detail/rootfs.hpp"
#include "sandbox/detail/sys.hpp"

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif
#ifndef SECBIT_NOROOT
#define SECBIT_NOROOT (1 << 0)
#define SECBIT_NOROOT_LOCKED (1 << 1)
#define SECBIT_NO_SETUID_FIXUP (1 << 2)
#define SECBIT_NO_SETUID_FIXUP_LOCKED (1 << 3)
#define SECBIT_KEEP_CAPS_LOCKED (1 << 5)
#define SECBIT_NO_CAP_AMBIENT_RAISE (1 << 6)
#define SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED (1 << 7)
#endif

namespace atrium::sandbox::detail {

using Op = MountStep::Op;

// ============================================================================ plan (parent side)

namespace {

constexpr const char* kNew = "/newroot";
constexpr std::uint64_t kRo = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
constexpr std::uint64_t kRw = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;

std::string real_path(const std::string& p) {
  char buf[PATH_MAX];
  if (!::realpath(p.c_str(), buf)) return {};
  return buf;
}

class Layout {
 public:
  explicit Layout(std::vector<MountStep>& steps) : steps_(steps) {}

  // mkdir -p of a sandbox path (each component under /newroot)
  void mkdirs(const std::string& sandbox_path) {
    std::string cur = kNew;
    size_t i = 1;
    while (i <= sandbox_path.size()) {
      size_t j = sandbox_path.find('/', i);
      if (j == std::string::npos) j = sandbox_path.size();
      if (j > i) {
        cur += "/" + sandbox_path.substr(i, j - i);
        if (made_.insert(cur).second)
          steps_.push_back({.op = Op::kMkdir, .dst = cur, .what = "mkdir " + cur.substr(8)});
      }
      i = j + 1;
    }
  }
  void touch(const std::string& sandbox_path) {
    auto slash = sandbox_path.rfind('/');
    if (slash > 0) mkdirs(sandbox_path.substr(0, slash));
    steps_.push_back({.op = Op::kTouch, .dst = kNew + sandbox_path, .what = "create " + sandbox_path});
  }
  // host (real) path -> sandbox path; dirs get a mkdir, files an empty file to bind onto
  void bind(const std::string& host, const std::string& sandbox_path, std::uint64_t attr, bool is_dir = true) {
    if (is_dir)
      mkdirs(sandbox_path);
    else
      touch(sandbox_path);
    steps_.push_back({.op = Op::kBind,
                      .src = host,
                      .dst = kNew + sandbox_path,
                      .attr = attr,
                      .recursive = true,
                      .what = fmt::format("bind {} at {}", host, sandbox_path)});
  }
  void symlink(const std::string& text, const std::string& sandbox_path) {
    steps_.push_back({.op = Op::kSymlink, .src = text, .dst = kNew + sandbox_path, .what = "symlink " + sandbox_path});
  }
  void tmpfs(const std::string& sandbox_path, unsigned long flags, const std::string& data) {
    mkdirs(sandbox_path);
    steps_.push_back({.op = Op::kTmpfs,
                      .dst = kNew + sandbox_path,
                      .data = data,
                      .flags = flags,
                      .what = "tmpfs at " + sandbox_path});
  }
  void step(MountStep s) { steps_.push_back(std::move(s)); }

 private:
  std::vector<MountStep>& steps_;
  std::set<std::string> made_;
};

// A top-level entry of the host root: symlinks are copied, directories and files bound read-only.
void add_root_entry(Layout& lay, const std::string& root, const std::string& name) {
  std::string host = (root == "/" ? "" : root) + "/" + name;
  struct stat st;
  if (::lstat(host.c_str(), &st) != 0) return;
  if (S_ISLNK(st.st_mode)) {
    char buf[PATH_MAX];
    ssize_t n = ::readlink(host.c_str(), buf, sizeof buf - 1);
    if (n <= 0) return;
    lay.symlink(std::string(buf, static_cast<size_t>(n)), "/" + name);
  } else if (S_ISDIR(st.st_mode)) {
    lay.bind(real_path(host), "/" + name, kRo);
  } else if (S_ISREG(st.st_mode)) {
    lay.bind(real_path(host), "/" + name, kRo, false);
  }
}

auto precondition(std::string what) { return fail(ErrorCode::kFailedPrecondition, "sandbox-setup", std::move(what)); }

// A host character device inside the sandbox: bound (nosuid, noexec) at the same path, and allowed
// in the job's device cgroup.
void bind_device(Layout& lay, LaunchPlan& p, const std::string& node, const struct stat& st) {
  lay.touch(node);
  p.steps.push_back({.op = Op::kBind,
                     .src = node,
                     .dst = kNew + node,
                     .attr = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC,
                     .what = "bind " + node});
  p.devices.push_back({'c', static_cast<int>(major(st.st_rdev)), static_cast<int>(minor(st.st_rdev))});
}

// Secret files at /run/secrets/NAME: a tmpfs of the sandbox's own (gone with its mount namespace,
// never on a disk), the files written by the init as the job's uid, then made read-only.
void add_secret_files(Layout& lay, LaunchPlan& p, const Spec& spec) {
  if (spec.secret_files.empty()) return;
  std::size_t bytes = 0;
  for (const auto& [name, content] : spec.secret_files) bytes += content.size() + 4096;
  lay.tmpfs("/run/secrets", MS_NOSUID | MS_NODEV | MS_NOEXEC,
            fmt::format("mode=0700,size={},nr_inodes={}", bytes + 65536, spec.secret_files.size() + 16));
  for (const auto& [name, content] : spec.secret_files)
    p.steps.push_back({.op = Op::kWrite,
                       .dst = std::string(kNew) + "/run/secrets/" + name,
                       .data = content,
                       .what = "write /run/secrets/" + name});
  p.steps.push_back({.op = Op::kSetAttr,
                     .dst = std::string(kNew) + "/run/secrets",
                     .attr = MOUNT_ATTR_RDONLY,
                     .what = "read-only /run/secrets"});
}

// A minimal /dev: a tmpfs with binds of the harmless nodes, made read-only at the end.
void add_dev(Layout& lay, LaunchPlan& p) {
  lay.tmpfs("/dev", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k,nr_inodes=256");
  std::vector<std::string> nodes = {"null", "zero", "full", "random", "urandom", "tty"};
  for (const auto& n : nodes) {
    struct stat st;
    std::string host = "/dev/" + n;
    if (::stat(host.c_str(), &st) != 0 || !S_ISCHR(st.st_mode)) continue;
    bind_device(lay, p, host, st);
  }
  for (auto [link, text] : {std::pair{"fd", "/proc/self/fd"},
                            {"stdin", "/proc/self/fd/0"},
                            {"stdout", "/proc/self/fd/1"},
                            {"stderr", "/proc/self/fd/2"},
                            {"ptmx", "pts/ptmx"}})
    lay.symlink(text, std::string("/dev/") + link);
  lay.mkdirs("/dev/pts");
  p.steps.push_back({.op = Op::kDevpts,
                     .dst = std::string(kNew) + "/dev/pts",
                     .data = "newinstance,ptmxmode=0666,mode=0620",
                     .flags = MS_NOSUID | MS_NOEXEC,
                     .optional = true,
                     .what = "mount /dev/pts"});
  p.devices.push_back({'c', 5, 2});                                    // ptmx
  for (int m = 136; m <= 143; ++m) p.devices.push_back({'c', m, -1});  // pts
  lay.tmpfs("/dev/shm", MS_NOSUID | MS_NODEV, "mode=1777");
}

// GPUs: only the allocated /dev/nvidiaN, plus the shared control nodes the driver needs.
Status add_gpus(Layout& lay, LaunchPlan& p, const std::vector<int>& gpus) {
  std::vector<std::string> gpu_nodes;
  for (int g : gpus) {
    std::string n = fmt::format("/dev/nvidia{}", g);
    struct stat st;
    if (::stat(n.c_str(), &st) != 0 || !S_ISCHR(st.st_mode))
      return precondition(fmt::format("GPU {}: {} does not exist", g, n));
    gpu_nodes.push_back(n);
  }
  for (const char* n : {"/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia-modeset"}) {
    struct stat st;
    if (::stat(n, &st) == 0 && S_ISCHR(st.st_mode)) gpu_nodes.push_back(n);
  }
  for (const auto& n : gpu_nodes) {
    struct stat st;
    ::stat(n.c_str(), &st);
    bind_device(lay, p, n, st);
  }
  // NVML and CUDA read PCI topology from /sys: read-only, only for GPU jobs. Its cgroup tree
  // would show every other job's cgroup (ids, usage): an empty read-only tmpfs covers it, as
  // for jobs without /sys.
  if (is_dir("/sys")) {
    lay.bind("/sys", "/sys", kRo | MOUNT_ATTR_NOEXEC);
    if (is_dir("/sys/fs/cgroup"))
      lay.tmpfs("/sys/fs/cgroup", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0555,size=4k");
  }
  return {};
}

// The environment (the spec's, plus defaults, plus the GPU variables, which always win), argv,
// and where execve looks for the program.
void set_command(LaunchPlan& p, const Spec& spec) {
  std::map<std::string, std::string> env = spec.env;
  env.try_emplace("PATH", "/usr/local/bin:/usr/bin:/bin");
  env.try_emplace("HOME", "/workspace");
  if (!spec.gpus.empty()) {
    // Inside, only the allocated nodes exist, so CUDA numbers the visible GPUs 0..k-1 and a host
    // index such as "3" would name nothing. UUIDs (from NVML) are unambiguous either way; without
    // NVML the renumbered indices are used. NVIDIA_VISIBLE_DEVICES / ATRIUM_GPUS keep host indices.
    auto uuids = nvml_uuids_by_minor();
    std::string cuda, host;
    for (size_t i = 0; i < spec.gpus.size(); ++i) {
      std::string sep = i ? "," : "";
      auto it = uuids.find(spec.gpus[i]);
      cuda += sep + (it != uuids.end() ? it->second : std::to_string(i));
      host += sep + std::to_string(spec.gpus[i]);
    }
    env["CUDA_VISIBLE_DEVICES"] = cuda;
    env["NVIDIA_VISIBLE_DEVICES"] = host;
    env["ATRIUM_GPUS"] = host;
  }
  for (const auto& [k, v] : env) p.env_store.push_back(k + "=" + v);
  p.argv_store = spec.argv;
  p.tree_fds.assign(p.steps.size(), -1);
  for (auto& s : p.argv_store) p.argv.push_back(s.data());
  p.argv.push_back(nullptr);
  for (auto& s : p.env_store) p.envp.push_back(s.data());
  p.envp.push_back(nullptr);
  const std::string& a0 = spec.argv[0];
  if (a0.find('/') != std::string::npos) {
    p.exec_candidates.push_back(a0);
  } else {
    std::string path = env["PATH"];
    size_t i = 0;
    while (i <= path.size()) {
      size_t j = path.find(':', i);
      if (j == std::string::npos) j = path.size();
      std::string dir = path.substr(i, j - i);
      p.exec_candidates.push_back((dir.empty() ? "." : dir) + "/" + a0);
      i = j + 1;
    }
  }
}

}  // namespace

Result<LaunchPlan> build_plan(const Spec& spec, uid_t uid, gid_t gid, bool clear_groups) {
  LaunchPlan p;
  p.uid = uid;
  p.gid = gid;
  p.clear_groups = clear_groups;
  p.hostname = spec.hostname;
  p.cwd = spec.cwd;
  p.scratch_opts = fmt::format("mode=0700,size=64k,uid={},gid={}", uid, gid);
  p.clone_flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS;
  if (!spec.network) {
    p.clone_flags |= CLONE_NEWNET;
    p.lo_up = true;
  }
  if (auto last = read_int("/proc/sys/kernel/cap_last_cap")) p.cap_last = static_cast<int>(*last);

  std::string workspace = real_path(spec.workspace);
  if (workspace.empty() || !is_dir(workspace))
    return precondition(fmt::format("workspace {} is not an existing directory", spec.workspace));

  Layout lay(p.steps);
  p.steps.push_back({.op = Op::kTmpfs,
                     .dst = kNew,
                     .data = "mode=0755,size=1m,nr_inodes=4096",
                     .flags = MS_NOSUID | MS_NODEV,
                     .what = "tmpfs root"});
  // The system: an image root, or the host's /usr and /etc and its /bin, /lib... links.
  std::vector<std::string> underlays;
  if (!spec.rootfs.empty()) {
    std::string rootfs = real_path(spec.rootfs);
    if (rootfs.empty() || !is_dir(rootfs))
      return precondition(fmt::format("rootfs {} is not an existing directory", spec.rootfs));
    const std::uint64_t image_attr = spec.rootfs_writable ? kRw : kRo;  // writable: image builds only
    std::vector<std::string> targets;
    for (const auto& m : spec.mounts) targets.push_back(m.target);
    if (!spec.secret_files.empty()) targets.push_back("/run/secrets");  // a tmpfs of its own (add_secret_files)
    for (const auto& e : TRY(image_root_entries(rootfs, targets))) {
      switch (e.kind) {
        case RootEntry::Kind::kSymlink: lay.symlink(e.source, e.path); break;
        case RootEntry::Kind::kDir: lay.bind(e.source, e.path, image_attr); break;
        case RootEntry::Kind::kEmptyDir:  // a build writes into it: bound like the rest
          if (spec.rootfs_writable) lay.bind(e.source, e.path, image_attr);
          else lay.mkdirs(e.path);
          break;
        case RootEntry::Kind::kFile: lay.bind(e.source, e.path, image_attr, false); break;
        case RootEntry::Kind::kUnderlay:
          lay.tmpfs(e.path, MS_NOSUID | MS_NODEV, fmt::format("mode={:o},size=64k,nr_inodes=4096", e.mode));
          underlays.push_back(e.path);
          break;
      }
    }
  } else {
    for (const char* n : {"usr", "etc", "bin", "sbin", "lib", "lib32", "lib64", "libx32"}) add_root_entry(lay, "/", n);
  }
  lay.bind(workspace, "/workspace", kRw);
  for (size_t i = 0; i < spec.mounts.size(); ++i) {
    const auto& m = spec.mounts[i];
    std::string src = real_path(m.source);
    struct stat st;
    if (src.empty() || ::stat(src.c_str(), &st) != 0)
      return precondition(fmt::format("mounts[{}].source {} does not exist", i, m.source));
    lay.bind(src, m.target, m.writable ? kRw : kRo, S_ISDIR(st.st_mode));
  }
  // /proc of the new pid namespace (mounted while the host's /proc is still visible, which the
  // kernel requires for a proc mount in a user namespace).
  lay.mkdirs("/proc");
  p.steps.push_back({.op = Op::kProc,
                     .dst = std::string(kNew) + "/proc",
                     .flags = MS_NOSUID | MS_NODEV | MS_NOEXEC,
                     .what = "mount /proc"});
  std::string tmp_opts = "mode=1777";
  if (spec.limits.memory_bytes) tmp_opts += fmt::format(",size={}", *spec.limits.memory_bytes);
  lay.tmpfs("/tmp", MS_NOSUID | MS_NODEV, tmp_opts);
  add_secret_files(lay, p, spec);
  add_dev(lay, p);
  if (!spec.gpus.empty()) TRY_STATUS(add_gpus(lay, p, spec.gpus));
  // An image's underlays hold their mount points now: read-only like the rest of the image.
  for (const auto& u : underlays)
    p.steps.push_back({.op = Op::kSetAttr, .dst = kNew + u, .attr = kRo, .what = "read-only " + u});
  p.steps.push_back(
      {.op = Op::kSetAttr, .dst = std::string(kNew) + "/dev", .attr = MOUNT_ATTR_RDONLY, .what = "read-only /dev"});

  set_command(p, spec);
  return p;
}

// ============================================================================ the child

namespace {

// Everything below runs after clone(): async-signal-safe calls only, no allocation.

void report(const LaunchPlan& p, ReportMsg::Kind kind, int err, int status, const char* step) {
  ReportMsg m;
  m.kind = kind;
  m.err = err;
  m.status = status;
  if (step) std::snprintf(m.step, sizeof m.step, "%s", step);
  while (::write(p.report_wr, &m, sizeof m) < 0 && errno == EINTR) {}
}

[[noreturn]] void die(const LaunchPlan& p, const char* step, int err) {
  report(p, ReportMsg::kSetupError, err, 0, step);
  _exit(kSetupExitCode);
}

int capset_all(const LaunchPlan& p, bool on) {
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (on) {
    if (::syscall(SYS_capget, &hdr, data) != 0) return errno;
    for (auto& d : data) d.effective = d.permitted;
  }
  (void)p;
  return ::syscall(SYS_capset, &hdr, data) == 0 ? 0 : errno;
}

void drop_all_caps(const LaunchPlan& p) {
  for (int c = 0; c <= p.cap_last; ++c)
    if (::prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0 && errno != EINVAL) die(p, "drop capability bounding set", errno);
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
    die(p, "clear ambient capabilities", errno);
  if (int e = capset_all(p, false)) die(p, "capset (drop all)", e);
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) die(p, "PR_SET_NO_NEW_PRIVS", errno);
}

// mount_setattr where the kernel has it (>= 5.12: recursive, leaves other flags alone); else a
// bind remount of the top mount that keeps the flags it has (a user namespace may not clear
// locked ones).
int set_attr(const char* path, std::uint64_t attr, bool recursive) {
  struct mount_attr a = {};
  a.attr_set = attr;
  if (::mount_setattr(AT_FDCWD, path, recursive ? AT_RECURSIVE : 0, &a, sizeof a) == 0) return 0;
  if (errno != ENOSYS) return errno;
  struct statvfs sv;
  if (::statvfs(path, &sv) != 0) return errno;
  unsigned long fl = MS_REMOUNT | MS_BIND;
  if (sv.f_flag & ST_RDONLY) fl |= MS_RDONLY;
  if (sv.f_flag & ST_NOSUID) fl |= MS_NOSUID;
  if (sv.f_flag & ST_NODEV) fl |= MS_NODEV;
  if (sv.f_flag & ST_NOEXEC) fl |= MS_NOEXEC;
  if (sv.f_flag & ST_NOATIME) fl |= MS_NOATIME;
  if (sv.f_flag & ST_NODIRATIME) fl |= MS_NODIRATIME;
  if (sv.f_flag & ST_RELATIME) fl |= MS_RELATIME;
  if (attr & MOUNT_ATTR_RDONLY) fl |= MS_RDONLY;
  if (attr & MOUNT_ATTR_NOSUID) fl |= MS_NOSUID;
  if (attr & MOUNT_ATTR_NODEV) fl |= MS_NODEV;
  if (attr & MOUNT_ATTR_NOEXEC) fl |= MS_NOEXEC;
  return ::mount(nullptr, path, nullptr, fl, nullptr) == 0 ? 0 : errno;
}

// Phase 1, as the host-side owner (before setresuid): clone each bind source into a detached
// mount tree with its attributes already set. RESOLVE_NO_SYMLINKS: the parent resolved the path,
// so a symlink swapped in since then is refused rather than followed.
void open_trees(LaunchPlan& p) {
  for (size_t i = 0; i < p.steps.size(); ++i) {
    const auto& s = p.steps[i];
    if (s.op != Op::kBind) continue;
    struct open_how how = {};
    how.flags = O_PATH | O_CLOEXEC;
    how.resolve = RESOLVE_NO_SYMLINKS;
    int fd = static_cast<int>(::syscall(SYS_openat2, AT_FDCWD, s.src.c_str(), &how, sizeof how));
    if (fd < 0 && errno == ENOSYS) fd = ::open(s.src.c_str(), O_PATH | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) die(p, s.what.c_str(), errno);
    int tree =
        ::open_tree(fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | (s.recursive ? AT_RECURSIVE : 0));
    int e = tree < 0 ? errno : 0;
    ::close(fd);
    if (e) die(p, s.what.c_str(), e);
    if (s.attr) {
      struct mount_attr a = {};
      a.attr_set = s.attr;
      if (::mount_setattr(tree, "", AT_EMPTY_PATH | (s.recursive ? AT_RECURSIVE : 0), &a, sizeof a) != 0)
        die(p, s.what.c_str(), errno);
    }
    p.tree_fds[i] = tree;
  }
}

// A new file (0400, the job's uid) holding `content`: a secret on the sandbox's own tmpfs.
int write_new_file(const char* path, const std::string& content) {
  int fd = ::open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0400);
  if (fd < 0) return errno;
  int e = 0;
  for (size_t off = 0; off < content.size() && !e;) {
    ssize_t n = ::write(fd, content.data() + off, content.size() - off);
    if (n > 0) off += static_cast<size_t>(n);
    else if (n < 0 && errno != EINTR) e = errno;
  }
  ::close(fd);
  return e;
}

// Phase 2, as the job's uid inside the namespace: build the new root.
void run_step(const LaunchPlan& p, size_t index) {
  const MountStep& s = p.steps[index];
  int e = 0;
  switch (s.op) {
    case Op::kMkdir:
      if (::mkdir(s.dst.c_str(), 0755) != 0 && errno != EEXIST) e = errno;
      break;
    case Op::kTouch: {
      // Read-only: an existing mount point (a file of the image or the host) on a read-only bind.
      int fd = ::open(s.dst.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
      if (fd < 0)
        e = errno;
      else
        ::close(fd);
      break;
    }
    case Op::kSymlink:
      if (::symlink(s.src.c_str(), s.dst.c_str()) != 0) e = errno;
      break;
    case Op::kBind:
      if (::move_mount(p.tree_fds[index], "", AT_FDCWD, s.dst.c_str(), MOVE_MOUNT_F_EMPTY_PATH) != 0) e = errno;
      ::close(p.tree_fds[index]);
      break;
    case Op::kTmpfs:
      if (::mount("tmpfs", s.dst.c_str(), "tmpfs", s.flags, s.data.c_str()) != 0) e = errno;
      break;
    case Op::kProc:
      if (::mount("proc", s.dst.c_str(), "proc", s.flags, nullptr) != 0) e = errno;
      break;
    case Op::kDevpts:
      if (::mount("devpts", s.dst.c_str(), "devpts", s.flags, s.data.c_str()) != 0) e = errno;
      break;
    case Op::kSetAttr: e = set_attr(s.dst.c_str(), s.attr, s.recursive); break;
    case Op::kWrite: e = write_new_file(s.dst.c_str(), s.data); break;
  }
  if (e && !s.optional) die(p, s.what.c_str(), e);
}

void close_all_except(const int* keep, int n) {
  // keep[] sorted ascending
  unsigned from = 3;
  for (int i = 0; i < n; ++i) {
    if (keep[i] < 0 || static_cast<unsigned>(keep[i]) < from) continue;
    if (static_cast<unsigned>(keep[i]) > from) ::close_range(from, static_cast<unsigned>(keep[i]) - 1, 0);
    from = static_cast<unsigned>(keep[i]) + 1;
  }
  ::close_range(from, ~0U, 0);
}

void bring_lo_up(const LaunchPlan& p) {
  int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) die(p, "socket for lo", errno);
  struct ifreq ifr = {};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  if (::ioctl(s, SIOCGIFFLAGS, &ifr) != 0) die(p, "SIOCGIFFLAGS lo", errno);
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  if (::ioctl(s, SIOCSIFFLAGS, &ifr) != 0) die(p, "bring lo up", errno);
  ::close(s);
}

[[noreturn]] void job_main(const LaunchPlan& p, int exec_wr, int devnull) {
  ::setsid();
  if (::dup2(devnull, 0) < 0 || ::dup2(p.out_wr, 1) < 0 || ::dup2(p.err_wr, 2) < 0) die(p, "set up stdio", errno);
  ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);  // the exec pipe (and the report pipe) close at exec
  for (const auto& [res, value] : p.rlimits) {
    struct rlimit rl;
    if (::getrlimit(res, &rl) != 0) die(p, "getrlimit", errno);
    // Only ever lower: root here has no CAP_SYS_RESOURCE to raise a hard limit.
    rlim_t v = (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < value) ? rl.rlim_max : value;
    rl.rlim_cur = v;
    rl.rlim_max = v;
    if (::setrlimit(res, &rl) != 0) die(p, "setrlimit", errno);
  }
  if (::prctl(PR_SET_SECUREBITS,
              SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP | SECBIT_NO_SETUID_FIXUP_LOCKED |
                  SECBIT_KEEP_CAPS_LOCKED | SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED,
              0, 0, 0) != 0)
    die(p, "PR_SET_SECUREBITS", errno);
  drop_all_caps(p);
  struct sock_fprog prog = {static_cast<unsigned short>(p.seccomp.size()), const_cast<sock_filter*>(p.seccomp.data())};
  if (::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) die(p, "install the seccomp filter", errno);
  struct sigaction dfl = {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &dfl, nullptr);  // SIG_IGN survives exec otherwise
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  int err = ENOENT;
  bool seen_eacces = false;
  for (const auto& c : p.exec_candidates) {
    ::execve(c.c_str(), p.argv.data(), p.envp.data());
    if (errno == EACCES)
      seen_eacces = true;
    else if (errno != ENOENT && errno != ENOTDIR) {
      err = errno;
      break;
    }
  }
  if (err == ENOENT && seen_eacces) err = EACCES;
  while (::write(exec_wr, &err, sizeof err) < 0 && errno == EINTR) {}
  _exit(127);
}

}  // namespace

int sandbox_init_main(void* arg) {
  LaunchPlan& p = *static_cast<LaunchPlan*>(arg);  // our own copy of the parent's memory
  int keep[4] = {p.sync_rd, p.report_wr, p.out_wr, p.err_wr};
  std::sort(std::begin(keep), std::end(keep));
  close_all_except(keep, 4);
  // Dies with the supervisor. The check below covers a supervisor that died before this line:
  // its end of the sync pipe is then closed and read() sees EOF. (Set again after setresuid.)
  ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  char go = 0;
  ssize_t n;
  do {
    n = ::read(p.sync_rd, &go, 1);
  } while (n < 0 && errno == EINTR);
  if (n != 1 || go != 'g') _exit(kSetupExitCode);
  // Not dumpable from the start: the init is a copy of the supervisor's memory (its environment
  // included), and the job, with the same uid, must never read /proc/1/environ or /proc/1/mem.
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  ::prctl(PR_SET_NAME, "atrium-init", 0, 0, 0);
  sigset_t waitset;
  sigemptyset(&waitset);
  for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) sigaddset(&waitset, s);
  ::sigprocmask(SIG_BLOCK, &waitset, nullptr);

  // The supervisor has put us in the job's cgroups: make them our cgroup namespace's root.
  if (::unshare(CLONE_NEWCGROUP) != 0) die(p, "unshare the cgroup namespace", errno);
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) die(p, "make mounts private", errno);
  open_trees(p);
  // The scratch root (see below) goes over /tmp, whatever its permissions.
  if (::mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, p.scratch_opts.c_str()) != 0)
    die(p, "scratch tmpfs", errno);
  // Become the job's uid now (keeping the namespace's capabilities to set up mounts): files made
  // on our tmpfs mounts need a uid that is mapped in this namespace.
  if (p.clear_groups && ::setgroups(0, nullptr) != 0) die(p, "setgroups", errno);
  if (::setresgid(p.gid, p.gid, p.gid) != 0) die(p, "setresgid", errno);
  if (::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) die(p, "PR_SET_KEEPCAPS", errno);
  if (::setresuid(p.uid, p.uid, p.uid) != 0) die(p, "setresuid", errno);
  if (int e = capset_all(p, true)) die(p, "capset (namespace setup)", e);
  // The kernel clears the parent-death signal on every uid/gid change: set it again, then make
  // sure the supervisor did not die in between (it holds the sync pipe open for the whole run).
  ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  struct pollfd pf = {p.sync_rd, POLLIN, 0};
  if (::poll(&pf, 1, 0) != 0) _exit(kSetupExitCode);  // EOF/HUP: the supervisor is gone
  ::close(p.sync_rd);

  // Mounts: private, a scratch tmpfs as an interim root with the host's root at /oldroot, then the
  // new root assembled at /newroot, then pivot into it and drop the old one (bubblewrap's order).
  if (::mkdir("/tmp/oldroot", 0700) != 0 || ::mkdir("/tmp/newroot", 0755) != 0) die(p, "scratch dirs", errno);
  if (::syscall(SYS_pivot_root, "/tmp", "/tmp/oldroot") != 0) die(p, "pivot_root to the scratch root", errno);
  if (::chdir("/") != 0) die(p, "chdir /", errno);
  for (size_t i = 0; i < p.steps.size(); ++i) run_step(p, i);
  if (::mount(nullptr, "/oldroot", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) die(p, "make /oldroot private", errno);
  if (::umount2("/oldroot", MNT_DETACH) != 0) die(p, "unmount the host root", errno);
  if (::chdir("/newroot") != 0) die(p, "chdir /newroot", errno);
  if (::syscall(SYS_pivot_root, ".", ".") != 0) die(p, "pivot_root to the new root", errno);
  if (::umount2(".", MNT_DETACH) != 0) die(p, "unmount the scratch root", errno);
  if (::chdir("/") != 0) die(p, "chdir /", errno);
  if (int e = set_attr("/", MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, false)) die(p, "read-only /", e);
  if (::chdir(p.cwd.c_str()) != 0) die(p, "chdir to the working directory", errno);
  if (::sethostname(p.hostname.c_str(), p.hostname.size()) != 0) die(p, "sethostname", errno);
  if (p.lo_up) bring_lo_up(p);

  int exec_pipe[2];
  if (::pipe2(exec_pipe, O_CLOEXEC) != 0) die(p, "pipe", errno);
  int devnull = ::open("/dev/null", O_RDWR);
  if (devnull < 0) die(p, "open /dev/null", errno);
  pid_t job = ::fork();
  if (job < 0) die(p, "fork the job", errno);
  if (job == 0) {
    ::close(exec_pipe[0]);
    job_main(p, exec_pipe[1], devnull);
  }
  ::close(exec_pipe[1]);
  ::close(devnull);
  ::close(p.out_wr);
  ::close(p.err_wr);
  int exec_err = 0;
  do {
    n = ::read(exec_pipe[0], &exec_err, sizeof exec_err);
  } while (n < 0 && errno == EINTR);
  ::close(exec_pipe[0]);
  if (n == sizeof exec_err) {
    char step[200];
    std::snprintf(step, sizeof step, "exec %s", p.argv_store[0].c_str());
    report(p, ReportMsg::kSetupError, exec_err, 0, step);
  } else {
    report(p, ReportMsg::kExecOk, 0, 0, nullptr);
  }
  // The init keeps nothing: no capabilities (it stays non-dumpable, see above).
  drop_all_caps(p);

  // The reaper: pid 1 of the namespace ignores signals it has no handler for, so it forwards
  // the stop signals to the job's process group, reaps every orphan, and ends with the job
  // (the kernel then kills whatever is left in the namespace).
  for (;;) {
    siginfo_t si;
    int sig = ::sigwaitinfo(&waitset, &si);
    if (sig < 0) continue;
    if (sig != SIGCHLD) {
      ::kill(-job, sig);
      ::kill(job, sig);
      continue;
    }
    for (;;) {
      int status = 0;
      pid_t w = ::waitpid(-1, &status, WNOHANG);
      if (w <= 0) break;
      if (w == job) {
        report(p, ReportMsg::kJobStatus, 0, status, nullptr);
        _exit(0);
      }
    }
  }
}

}  // namespace atrium::sandbox::detail
