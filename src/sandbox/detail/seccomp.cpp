#include "sandbox/detail/seccomp.hpp"

#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <functional>

#include <fmt/format.h>

#include "sandbox/detail/sys.hpp"

namespace atrium::sandbox::detail {

namespace {

// Allowed: Docker's default profile (its unconditional list; names libseccomp 2.5 does not know,
// or that are not on this architecture, are skipped, and so get ENOSYS), less adjtimex and
// clock_adjtime (clock setters), name_to_handle_at (file handles) and ioctl (conditional below),
// plus the NUMA policy calls research code makes (hwloc, OpenMPI, numactl; Docker wants
// CAP_SYS_NICE for them, but they only steer the caller's own pages within its cpuset).
constexpr const char* kAllowed[] = {
    "_llseek", "_newselect", "accept", "accept4", "access", "alarm", "arch_prctl", "bind", "brk", "cachestat",
    "capget", "capset", "chdir", "chmod", "chown", "chown32", "clock_getres", "clock_getres_time64", "clock_gettime",
    "clock_gettime64", "clock_nanosleep", "clock_nanosleep_time64", "close", "close_range", "connect",
    "copy_file_range", "creat", "dup", "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old",
    "epoll_pwait", "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2", "execve", "execveat",
    "exit", "exit_group", "faccessat", "faccessat2", "fadvise64", "fadvise64_64", "fallocate", "fanotify_mark",
    "fchdir", "fchmod", "fchmodat", "fchmodat2", "fchown", "fchown32", "fchownat", "fcntl", "fcntl64", "fdatasync",
    "fgetxattr", "flistxattr", "flock", "fork", "fremovexattr", "fsetxattr", "fstat", "fstat64", "fstatat64",
    "fstatfs", "fstatfs64", "fsync", "ftruncate", "ftruncate64", "futex", "futex_requeue", "futex_time64",
    "futex_wait", "futex_waitv", "futex_wake", "futimesat", "get_mempolicy", "get_robust_list", "get_thread_area",
    "getcpu", "getcwd", "getdents", "getdents64", "getegid", "getegid32", "geteuid", "geteuid32", "getgid",
    "getgid32", "getgroups", "getgroups32", "getitimer", "getpeername", "getpgid", "getpgrp", "getpid", "getppid",
    "getpriority", "getrandom", "getresgid", "getresgid32", "getresuid", "getresuid32", "getrlimit", "getrusage",
    "getsid", "getsockname", "getsockopt", "gettid", "gettimeofday", "getuid", "getuid32", "getxattr", "getxattrat",
    "inotify_add_watch", "inotify_init", "inotify_init1", "inotify_rm_watch", "io_cancel", "io_destroy",
    "io_getevents", "io_pgetevents", "io_pgetevents_time64", "io_setup", "io_submit", "ioprio_get", "ioprio_set",
    "ipc", "kill", "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self", "lchown", "lchown32",
    "lgetxattr", "link", "linkat", "listen", "listmount", "listxattr", "listxattrat", "llistxattr", "lremovexattr",
    "lseek", "lsetxattr", "lstat", "lstat64", "madvise", "map_shadow_stack", "mbind", "membarrier", "memfd_create",
    "memfd_secret", "mincore", "mkdir", "mkdirat", "mknod", "mknodat", "mlock", "mlock2", "mlockall", "mmap",
    "mmap2", "mprotect", "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive", "mq_timedreceive_time64",
    "mq_timedsend", "mq_timedsend_time64", "mq_unlink", "mremap", "mseal", "msgctl", "msgget", "msgrcv", "msgsnd",
    "msync", "munlock", "munlockall", "munmap", "nanosleep", "newfstatat", "open", "openat", "openat2", "pause",
    "pidfd_open", "pidfd_send_signal", "pipe", "pipe2", "pkey_alloc", "pkey_free", "pkey_mprotect", "poll", "ppoll",
    "ppoll_time64", "prctl", "pread64", "preadv", "preadv2", "prlimit64", "process_mrelease", "pselect6",
    "pselect6_time64", "pwrite64", "pwritev", "pwritev2", "read", "readahead", "readlink", "readlinkat", "readv",
    "recv", "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg", "remap_file_pages", "removexattr", "removexattrat",
    "rename", "renameat", "renameat2", "restart_syscall", "rmdir", "rseq", "rt_sigaction", "rt_sigpending",
    "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo", "sched_get_priority_max", "sched_get_priority_min", "sched_getaffinity", "sched_getattr",
    "sched_getparam", "sched_getscheduler", "sched_rr_get_interval", "sched_rr_get_interval_time64",
    "sched_setaffinity", "sched_setattr", "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp", "select",
    "semctl", "semget", "semop", "semtimedop", "semtimedop_time64", "send", "sendfile", "sendfile64", "sendmmsg",
    "sendmsg", "sendto", "set_mempolicy", "set_robust_list", "set_thread_area", "set_tid_address", "setfsgid",
    "setfsgid32", "setfsuid", "setfsuid32", "setgid", "setgid32", "setgroups", "setgroups32", "setitimer", "setpgid",
    "setpriority", "setregid", "setregid32", "setresgid", "setresgid32", "setresuid", "setresuid32", "setreuid",
    "setreuid32", "setrlimit", "setsid", "setsockopt", "setuid", "setuid32", "setxattr", "setxattrat", "shmat",
    "shmctl", "shmdt", "shmget", "shutdown", "sigaltstack", "signalfd", "signalfd4", "sigprocmask", "sigreturn",
    "socketcall", "socketpair", "splice", "stat", "stat64", "statfs", "statfs64", "statmount", "statx", "symlink",
    "symlinkat", "sync", "sync_file_range", "syncfs", "sysinfo", "tee", "tgkill", "time", "timer_create",
    "timer_delete", "timer_getoverrun", "timer_gettime", "timer_gettime64", "timer_settime", "timer_settime64",
    "timerfd_create", "timerfd_gettime", "timerfd_gettime64", "timerfd_settime", "timerfd_settime64", "times", "tkill",
    "truncate", "truncate64", "ugetrlimit", "umask", "uname", "unlink", "unlinkat", "uretprobe", "utime", "utimensat",
    "utimensat_time64", "utimes", "vfork", "vmsplice", "wait4", "waitid", "waitpid", "write", "writev"};

// Denied with EPERM (every other syscall gets ENOSYS, so that glibc falls back from a call this
// kernel or libseccomp does not know): what would let a job leave or widen its sandbox (mounts,
// namespaces, chroot), reach into other processes, or reach the kernel's less travelled paths
// (io_uring, BPF, perf, userfaultfd, keyrings, modules, kexec, LDT), plus the clock, swap, reboot,
// accounting and quota setters and a few relics.
constexpr const char* kDenied[] = {
    "mount", "umount", "umount2", "pivot_root", "chroot", "unshare", "setns", "move_mount", "open_tree", "fsopen",
    "fsconfig", "fsmount", "fspick", "mount_setattr", "bpf", "perf_event_open", "ptrace", "process_vm_readv",
    "process_vm_writev", "process_madvise", "pidfd_getfd", "kcmp", "kexec_load", "kexec_file_load", "init_module",
    "finit_module", "delete_module", "keyctl", "add_key", "request_key", "userfaultfd", "io_uring_setup",
    "io_uring_enter", "io_uring_register", "modify_ldt", "open_by_handle_at", "name_to_handle_at", "swapon",
    "swapoff", "reboot", "acct", "quotactl", "quotactl_fd", "syslog", "lookup_dcookie", "iopl", "ioperm",
    "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "stime", "sethostname", "setdomainname",
    "nfsservctl", "vhangup", "uselib", "create_module", "get_kernel_syms", "query_module", "fanotify_init", "vm86",
    "vm86old", "_sysctl", "migrate_pages", "move_pages", "set_mempolicy_home_node", "lsm_set_self_attr"};

// clone() may make threads and processes, never namespaces (Docker's mask: NEWNS, NEWCGROUP,
// NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET).
constexpr std::uint64_t kNsFlags[] = {CLONE_NEWNS,   CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC,
                                      CLONE_NEWUSER, CLONE_NEWPID,    CLONE_NEWNET};

// personality(): Docker's values: PER_LINUX, PER_LINUX32, UNAME26, UNAME26|PER_LINUX32, and the query.
constexpr std::uint32_t kPersonalities[] = {0x0, 0x8, 0x20000, 0x20008, 0xffffffffu};

constexpr std::uint32_t kAfAlg = 38, kAfVsock = 40;  // socket families Docker refuses

Result<std::vector<sock_filter>> compile() {
  // Other ABIs (i386 through int 0x80, x32 through __X32_SYSCALL_BIT) are not in the filter at all:
  // their calls get ENOSYS instead of passing through rules written for x86_64 numbers.
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(ENOSYS));
  if (!ctx) return internal("seccomp_init failed");
  struct Guard {
    scmp_filter_ctx c;
    ~Guard() { seccomp_release(c); }
  } guard{ctx};
  if (int rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_ERRNO(ENOSYS)); rc != 0)
    return internal(fmt::format("seccomp bad-arch action: {}", errno_text(-rc)));
  // A binary search over syscall numbers instead of ~350 compares in a row (libseccomp >= 2.5).
  seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
  auto add = [&](int nr, std::uint32_t action, std::vector<scmp_arg_cmp> args = {}) -> Status {
    int rc = seccomp_rule_add_array(ctx, action, nr, static_cast<unsigned>(args.size()), args.data());
    if (rc != 0) return internal(fmt::format("seccomp rule for syscall {}: {}", nr, errno_text(-rc)));
    return {};
  };
  auto by_name = [&](const char* name, std::uint32_t action) -> Status {
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR || nr < 0) return {};  // unknown to libseccomp, or not on this architecture
    return add(nr, action);
  };
  for (const char* name : kAllowed) TRY_STATUS(by_name(name, SCMP_ACT_ALLOW));
  for (const char* name : kDenied) TRY_STATUS(by_name(name, SCMP_ACT_ERRNO(EPERM)));
  // A syscall whose int argument (low 32 bits) is allowed for every value but a few.
  auto all_but = [&](int nr, unsigned arg, std::vector<std::uint32_t> refused, std::uint32_t refuse) -> Status {
    for (std::uint32_t v : refused)
      TRY_STATUS(add(nr, refuse, {scmp_arg_cmp{arg, SCMP_CMP_MASKED_EQ, 0xffffffffu, v}}));
    for (auto [mask, value] : values_except(refused))
      TRY_STATUS(add(nr, SCMP_ACT_ALLOW, {scmp_arg_cmp{arg, SCMP_CMP_MASKED_EQ, mask, value}}));
    return {};
  };
  // Typing into another terminal's input queue, or its console.
  TRY_STATUS(all_but(SCMP_SYS(ioctl), 1, {static_cast<std::uint32_t>(TIOCSTI), static_cast<std::uint32_t>(TIOCLINUX)},
                     SCMP_ACT_ERRNO(EPERM)));
  TRY_STATUS(all_but(SCMP_SYS(socket), 0, {kAfAlg, kAfVsock}, SCMP_ACT_ERRNO(EPERM)));
  // personality(): the allowed values, EPERM for every other (ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC...).
  {
    std::vector<std::uint32_t> ok(std::begin(kPersonalities), std::end(kPersonalities));
    for (std::uint32_t v : ok)
      TRY_STATUS(add(SCMP_SYS(personality), SCMP_ACT_ALLOW, {scmp_arg_cmp{0, SCMP_CMP_MASKED_EQ, 0xffffffffu, v}}));
    for (auto [mask, value] : values_except(ok))
      TRY_STATUS(add(SCMP_SYS(personality), SCMP_ACT_ERRNO(EPERM), {scmp_arg_cmp{0, SCMP_CMP_MASKED_EQ, mask, value}}));
  }
  std::uint64_t ns_mask = 0;
  for (auto flag : kNsFlags) {
    ns_mask |= flag;
    TRY_STATUS(add(SCMP_SYS(clone), SCMP_ACT_ERRNO(EPERM), {SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag)}));
  }
  TRY_STATUS(add(SCMP_SYS(clone), SCMP_ACT_ALLOW, {SCMP_A0(SCMP_CMP_MASKED_EQ, ns_mask, 0)}));
  // clone3 passes its flags in memory, which a filter cannot read: ENOSYS, the default (libseccomp
  // refuses a rule that repeats it), makes glibc fall back to clone.

  Fd mem(::memfd_create("atrium-seccomp", MFD_CLOEXEC));
  if (!mem.valid()) return internal(fmt::format("memfd_create: {}", errno_text(errno)));
  if (int rc = seccomp_export_bpf(ctx, mem.get()); rc != 0)
    return internal(fmt::format("seccomp_export_bpf: {}", errno_text(-rc)));
  off_t size = ::lseek(mem.get(), 0, SEEK_END);
  if (size <= 0 || size % sizeof(sock_filter) != 0) return internal("seccomp_export_bpf wrote no program");
  std::vector<sock_filter> prog(static_cast<size_t>(size) / sizeof(sock_filter));
  if (prog.size() > BPF_MAXINSNS) return internal(fmt::format("the seccomp program has {} instructions", prog.size()));
  if (::pread(mem.get(), prog.data(), static_cast<size_t>(size), 0) != size) return internal("reading the seccomp program");
  return prog;
}

}  // namespace

std::vector<std::pair<std::uint32_t, std::uint32_t>> values_except(std::vector<std::uint32_t> except) {
  std::sort(except.begin(), except.end());
  except.erase(std::unique(except.begin(), except.end()), except.end());
  std::vector<std::pair<std::uint32_t, std::uint32_t>> out;
  // Walk the binary trie of `except` from the top bit: a subtree that holds none of them is one rule.
  std::function<void(std::uint32_t, int, std::size_t, std::size_t)> walk = [&](std::uint32_t prefix, int bits,
                                                                               std::size_t lo, std::size_t hi) {
    std::uint32_t mask = bits == 0 ? 0u : ~0u << (32 - bits);
    if (lo == hi) {
      out.emplace_back(mask, prefix);
      return;
    }
    if (bits == 32) return;  // the refused value itself
    std::uint32_t bit = 1u << (31 - bits);
    std::size_t mid = lo;
    while (mid < hi && !(except[mid] & bit)) ++mid;
    walk(prefix, bits + 1, lo, mid);
    walk(prefix | bit, bits + 1, mid, hi);
  };
  walk(0, 0, 0, except.size());
  return out;
}

Result<std::vector<sock_filter>> build_seccomp_filter() {
  static const Result<std::vector<sock_filter>> program = compile();  // the same every run
  return program;
}

}  // namespace atrium::sandbox::detail
