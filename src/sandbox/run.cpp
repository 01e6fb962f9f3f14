// run(): the supervisor. Prepares the plan and the job cgroup, clones the sandbox's init,
// finishes the user namespace from outside (uid/gid maps, cgroup membership), then watches the
// job: its output pipes, its pidfd, the wall-clock timer and our own stop signals.
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "sandbox/detail/cgroup.hpp"
#include "sandbox/detail/launch.hpp"
#include "sandbox/detail/sys.hpp"
#include "sandbox/sandbox.hpp"

namespace atrium::sandbox {

using namespace detail;

namespace {

constexpr size_t kStackSize = 256 * 1024;
constexpr Millis kDrainMs = 2000;  // after the init is gone, how long the pipes may take to hit EOF

void arm(int tfd, Millis ms) {
  itimerspec its = {};
  ms = std::max<Millis>(ms, 1);
  its.it_value.tv_sec = ms / 1000;
  its.it_value.tv_nsec = (ms % 1000) * 1'000'000;
  ::timerfd_settime(tfd, 0, &its, nullptr);
}

int send_signal(int pidfd, pid_t pid, int sig) {
  if (pidfd >= 0 && ::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0) == 0) return 0;
  return ::kill(pid, sig);
}

// One output stream: pipe -> file, capped.
struct Stream {
  Fd pipe;
  Fd file;
  std::optional<std::int64_t> cap;
  std::int64_t written = 0;
  bool truncated = false;
  bool write_failed = false;

  // false at EOF
  bool pump(std::string& notes, const char* name) {
    char buf[65536];
    ssize_t n = ::read(pipe.get(), buf, sizeof buf);
    if (n < 0) return errno == EINTR || errno == EAGAIN;
    if (n == 0) return false;
    size_t keep = static_cast<size_t>(n);
    if (cap && written + n > *cap) {
      keep = static_cast<size_t>(std::max<std::int64_t>(0, *cap - written));
      truncated = true;
    }
    if (file.valid() && keep > 0 && !write_failed) {
      size_t off = 0;
      while (off < keep) {
        ssize_t w = ::write(file.get(), buf + off, keep - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
          notes += fmt::format("writing {}: {}; the rest is discarded; ", name, errno_text(errno));
          write_failed = true;
          break;
        }
        off += static_cast<size_t>(w);
      }
    }
    written += static_cast<std::int64_t>(keep);
    return true;
  }
};

Result<Fd> open_output(const std::string& path, const char* field) {
  if (path.empty()) return Fd();
  Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640));
  if (!fd.valid())
    return fail(ErrorCode::kFailedPrecondition, "sandbox-setup",
                fmt::format("{} {}: {}", field, path, errno_text(errno)));
  return fd;
}

std::string join_notes(const std::vector<std::string>& v, const std::string& more) {
  std::string out;
  for (const auto& s : v) out += s + "; ";
  out += more;
  while (!out.empty() && (out.back() == ' ' || out.back() == ';')) out.pop_back();
  return out;
}

}  // namespace

int exit_status(const Outcome& o) {
  if (o.kind == "timeout") return 124;
  if (o.kind == "oom") return 137;
  if (o.kind == "setup_failed") return 125;
  if (o.kind == "cancelled") return 143;
  if (o.kind == "signaled") return 128 + o.signal;
  return o.exit_code;
}

namespace {

// One run: the steps of run() over the state they share.
class Supervisor {
 public:
  Supervisor(const Spec& spec, const RunHooks& hooks) : spec_(spec), hooks_(hooks), lim_(spec.limits) {
    out_.started_ms = clock_.now_ms();
  }

  Outcome run() {
    caps_ = &launch_capabilities();
    if (!caps_->user_namespaces) return setup_failed("user namespaces are not available on this host");
    if (!caps_->seccomp) return setup_failed("seccomp is not available on this host");
    if (auto why = choose_identity(); !why.empty()) return setup_failed(why);
    auto planned = build_plan(spec_, spec_.root_inside ? 0 : uid_, spec_.root_inside ? 0 : gid_, caps_->root);
    if (!planned) return setup_failed(planned.error().detail);
    plan_ = std::move(*planned);
    auto filter = build_seccomp_filter();
    if (!filter) return setup_failed(filter.error().detail);
    plan_.seccomp = std::move(*filter);
    // Limits: the cgroup where one is writable, else rlimits, and only what really happened is
    // claimed in `enforced`.
    auto made = create_job_cgroup(cgroup_layout(), spec_, plan_.devices, notes_);
    if (!made) return setup_failed(made.error().detail);
    cg_ = std::move(*made);
    struct CgroupCleanup {
      std::unique_ptr<JobCgroup>& cg;
      ~CgroupCleanup() {
        if (cg) cg->remove();
      }
    } cleanup{cg_};
    claim_limits();
    if (auto why = open_io(); !why.empty()) return setup_failed(why);
    // Our stop signals arrive on a signalfd (blocked here, so also blocked in the child until the
    // job resets its mask).
    sigset_t stopset, oldmask;
    sigemptyset(&stopset);
    for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&stopset, s);
    ::pthread_sigmask(SIG_BLOCK, &stopset, &oldmask);
    sigfd_.reset(::signalfd(-1, &stopset, SFD_CLOEXEC | SFD_NONBLOCK));
    struct MaskRestore {
      int sigfd;
      sigset_t old;
      ~MaskRestore() {
        signalfd_siginfo si;
        while (sigfd >= 0 && ::read(sigfd, &si, sizeof si) == sizeof si) {}  // consumed: must not fire once unblocked
        ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
      }
    } restore{sigfd_.get(), oldmask};
    timer_.reset(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
    if (!sigfd_.valid() || !timer_.valid()) return setup_failed(fmt::format("signalfd/timerfd: {}", errno_text(errno)));
    if (auto why = start_child(); !why.empty()) return setup_failed(why);
    if (lim_.wall_ms) arm(timer_.get(), *lim_.wall_ms);
    supervise();
    return outcome();
  }

 private:
  Outcome setup_failed(std::string detail) {
    out_.kind = "setup_failed";
    out_.exit_code = kSetupExitCode;
    out_.enforced.clear();  // nothing ran, nothing was enforced
    out_.ended_ms = clock_.now_ms();
    out_.wall_ms = since_start_.millis();
    out_.detail = notes_.empty() ? detail : detail + "; " + notes_;
    while (!out_.detail.empty() && (out_.detail.back() == ' ' || out_.detail.back() == ';')) out_.detail.pop_back();
    return out_;
  }

  // Who the job runs as: a per-user host uid when we are root (never root itself), else the
  // caller. A non-empty answer: why it cannot run.
  std::string choose_identity() {
    if (caps_->root) {
      uid_ = spec_.uid.value_or(65534);
      gid_ = spec_.gid.value_or(spec_.uid ? *spec_.uid : 65534);
      uid_mode_ = spec_.uid ? "per-user" : "nobody";
      return {};
    }
    uid_ = ::getuid();
    gid_ = ::getgid();
    uid_mode_ = "caller";
    if (spec_.uid && *spec_.uid != uid_)
      notes_ += fmt::format("uid {} ignored: not root, the job runs as the caller ({}); ", *spec_.uid, uid_);
    if (uid_ == 0) return "refusing to run a job as uid 0 without CAP_SYS_ADMIN to map another uid";
    return {};
  }

  void claim_limits() {
    if (cg_) {
      enforced_ = cg_->enforced();
      notes_ += cg_->notes();
    }
    if (lim_.memory_bytes && !enforced_.contains("memory")) {
      plan_.rlimits.push_back({RLIMIT_AS, static_cast<rlim_t>(*lim_.memory_bytes)});
      enforced_["memory"] = "rlimit";
      notes_ += "memory: RLIMIT_AS per process (no memory cgroup), no OOM detection; ";
    }
    if (lim_.pids && !enforced_.contains("pids")) {
      plan_.rlimits.push_back({RLIMIT_NPROC, static_cast<rlim_t>(*lim_.pids + 1)});
      enforced_["pids"] = "rlimit";
      notes_ += fmt::format("pids: RLIMIT_NPROC counts every process of uid {}; ", uid_);
    }
    if (lim_.cpus && !enforced_.contains("cpu")) {
      if (lim_.wall_ms) {
        auto secs = static_cast<rlim_t>(std::ceil(*lim_.cpus * static_cast<double>(*lim_.wall_ms) / 1000.0)) + 1;
        plan_.rlimits.push_back({RLIMIT_CPU, secs});
        enforced_["cpu_time"] = "rlimit";
        notes_ += fmt::format("cpu: no cpu cgroup, bandwidth not limited; RLIMIT_CPU {} s per process; ", secs);
      } else {
        notes_ += "cpu: no cpu cgroup, cpus not enforced; ";
      }
    }
    if (lim_.wall_ms) enforced_["wall"] = "timer";
    if (lim_.output_bytes) enforced_["output"] = "cap";
    if (!spec_.network) enforced_["network"] = "netns";
    enforced_["seccomp"] = "allow-list";
    enforced_["uid"] = uid_mode_;
    enforced_["capabilities"] = "none";
    enforced_["no_new_privs"] = "yes";
    enforced_["filesystem"] = spec_.rootfs_writable ? "writable-rootfs" : "read-only-root";
    if (spec_.root_inside) enforced_["uid"] = uid_mode_ + ",root-inside";
    enforced_["namespaces"] = spec_.network ? "user,mount,pid,ipc,uts,cgroup" : "user,mount,pid,ipc,uts,cgroup,net";
    enforced_["kill"] = cg_ && cg_->kills_by_cgroup() ? "cgroup.kill" : "pid-namespace";
    if (!spec_.gpus.empty()) enforced_["gpus"] = "device-nodes";
  }

  // The pipes between us and the init, and the output files.
  std::string open_io() {
    int p_sync[2], p_report[2], p_out[2], p_err[2];
    if (::pipe2(p_sync, O_CLOEXEC) || ::pipe2(p_report, O_CLOEXEC) || ::pipe2(p_out, O_CLOEXEC) ||
        ::pipe2(p_err, O_CLOEXEC))
      return fmt::format("pipe: {}", errno_text(errno));
    sync_wr_.reset(p_sync[1]);
    sync_rd_.reset(p_sync[0]);
    report_rd_.reset(p_report[0]);
    report_wr_.reset(p_report[1]);
    sout_.pipe.reset(p_out[0]);
    serr_.pipe.reset(p_err[0]);
    out_wr_.reset(p_out[1]);
    err_wr_.reset(p_err[1]);
    sout_.cap = serr_.cap = lim_.output_bytes;
    auto f = open_output(spec_.stdout_path, "stdout_path");
    if (!f) return f.error().detail;
    sout_.file = std::move(*f);
    auto g = open_output(spec_.stderr_path, "stderr_path");
    if (!g) return g.error().detail;
    serr_.file = std::move(*g);
    plan_.sync_rd = sync_rd_.get();
    plan_.sync_wr = sync_wr_.get();
    plan_.report_wr = report_wr_.get();
    plan_.report_rd = report_rd_.get();
    plan_.out_wr = out_wr_.get();
    plan_.err_wr = err_wr_.get();
    plan_.out_rd = sout_.pipe.get();
    plan_.err_rd = serr_.pipe.get();
    return {};
  }

  // Clones the init, then finishes the namespace from outside: uid/gid maps, then the cgroups,
  // then lets the child go.
  std::string start_child() {
    stack_.resize(kStackSize);
    int pidfd_raw = -1;
    pid_ = ::clone(sandbox_init_main, stack_.data() + stack_.size(), plan_.clone_flags | CLONE_PIDFD | SIGCHLD, &plan_,
                   &pidfd_raw);
    if (pid_ < 0) return fmt::format("clone: {}", errno_text(errno));
    pidfd_.reset(pidfd_raw);
    sync_rd_.reset();
    report_wr_.reset();
    out_wr_.reset();
    err_wr_.reset();
    auto abort_child = [&](std::string why) {
      send_signal(pidfd_.get(), pid_, SIGKILL);
      int st;
      while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {}
      return why;
    };
    std::string base = fmt::format("/proc/{}", pid_);
    if (int e = write_file(base + "/uid_map", fmt::format("{} {} 1\n", spec_.root_inside ? 0 : uid_, uid_)))
      return abort_child(fmt::format("write uid_map: {}", errno_text(e)));
    if (!caps_->root) {
      if (int e = write_file(base + "/setgroups", "deny"))
        return abort_child(fmt::format("write setgroups: {}", errno_text(e)));
    }
    if (int e = write_file(base + "/gid_map", fmt::format("{} {} 1\n", spec_.root_inside ? 0 : gid_, gid_)))
      return abort_child(fmt::format("write gid_map: {}", errno_text(e)));
    if (cg_) {
      if (auto st = cg_->join(pid_); !st) return abort_child(st.error().detail);
    }
    // sync_wr stays open until run() returns: the init takes EOF on it as "the supervisor died".
    if (::write(sync_wr_.get(), "g", 1) != 1)
      return abort_child(fmt::format("release the child: {}", errno_text(errno)));
    return {};
  }

  void kill_everything() {
    killed_ = true;
    if (cg_) cg_->kill_all();
    send_signal(pidfd_.get(), pid_, SIGKILL);  // the pid-namespace init: the kernel kills the rest
  }

  void begin_stop(const char* reason) {
    if (!stop_reason_.empty()) {  // a second stop request does not wait for the grace period
      if (std::string_view(reason) == "cancelled" && !killed_) kill_everything();
      return;
    }
    stop_reason_ = reason;
    send_signal(pidfd_.get(), pid_, SIGTERM);  // the init forwards it to the job's process group
    if (lim_.kill_grace_ms <= 0) {
      kill_everything();
    } else {
      arm(timer_.get(), lim_.kill_grace_ms);
      grace_armed_ = true;
    }
  }

  void read_reports() {
    char buf[sizeof(ReportMsg) * 4];
    ssize_t n = ::read(report_rd_.get(), buf, sizeof buf);
    if (n == 0) {
      report_open_ = false;
      return;
    }
    if (n < 0) return;
    report_buf_.append(buf, static_cast<size_t>(n));
    while (report_buf_.size() >= sizeof(ReportMsg)) {
      ReportMsg m;
      std::memcpy(&m, report_buf_.data(), sizeof m);
      report_buf_.erase(0, sizeof m);
      m.step[sizeof m.step - 1] = '\0';
      if (m.kind == ReportMsg::kSetupError && !setup_error_) {
        setup_error_ = m;
      } else if (m.kind == ReportMsg::kExecOk) {
        exec_ok_ = true;
        if (hooks_.on_started) hooks_.on_started(pid_);
      } else if (m.kind == ReportMsg::kJobStatus) {
        job_status_ = m.status;
      }
    }
  }

  // Watches the job: its output pipes, its pidfd, the wall-clock timer and our stop signals.
  void supervise() {
    bool out_open = true, err_open = true;
    Millis drain_deadline = 0;
    while (report_open_ || out_open || err_open || !init_done_) {
      pollfd fds[6];
      int nfds = 0;
      int i_rep = -1, i_out = -1, i_err = -1, i_pid = -1, i_sig, i_tim;
      if (report_open_) fds[i_rep = nfds++] = {report_rd_.get(), POLLIN, 0};
      if (out_open) fds[i_out = nfds++] = {sout_.pipe.get(), POLLIN, 0};
      if (err_open) fds[i_err = nfds++] = {serr_.pipe.get(), POLLIN, 0};
      if (!init_done_) fds[i_pid = nfds++] = {pidfd_.get(), POLLIN, 0};
      fds[i_sig = nfds++] = {sigfd_.get(), POLLIN, 0};
      fds[i_tim = nfds++] = {timer_.get(), POLLIN, 0};
      int timeout = -1;
      if (init_done_) {
        Millis left = drain_deadline - since_start_.millis();
        if (left <= 0) {
          notes_ += "output pipes still open after the job ended; stopped reading; ";
          break;
        }
        timeout = static_cast<int>(left);
      }
      int rc = ::poll(fds, static_cast<nfds_t>(nfds), timeout);
      if (rc < 0) {
        if (errno == EINTR) continue;
        notes_ += fmt::format("poll: {}; ", errno_text(errno));
        kill_everything();
        break;
      }
      auto ready = [&](int i) { return i >= 0 && (fds[i].revents & (POLLIN | POLLHUP | POLLERR)); };
      if (ready(i_out) && !sout_.pump(notes_, "stdout")) out_open = false;
      if (ready(i_err) && !serr_.pump(notes_, "stderr")) err_open = false;
      if (ready(i_rep)) read_reports();
      if (ready(i_sig)) {
        signalfd_siginfo si;
        while (::read(sigfd_.get(), &si, sizeof si) == sizeof si) begin_stop("cancelled");
      }
      if (ready(i_tim)) {
        std::uint64_t ticks;
        if (::read(timer_.get(), &ticks, sizeof ticks) == sizeof ticks && !init_done_) {
          if (!grace_armed_)
            begin_stop("timeout");
          else if (!killed_)
            kill_everything();
        }
      }
      if (ready(i_pid) && ::wait4(pid_, &init_status_, WNOHANG, &ru_) == pid_) {
        init_done_ = true;
        drain_deadline = since_start_.millis() + kDrainMs;
      }
    }
    if (!init_done_) {  // only after a poll failure or a drain timeout
      kill_everything();
      while (::wait4(pid_, &init_status_, 0, &ru_) < 0 && errno == EINTR) {}
    }
  }

  // What happened, from the init's reports, its status, the cgroup's figures and our own stops.
  Outcome outcome() {
    CgroupStats stats;
    if (cg_) {
      stats = cg_->stats();
      cg_->remove();
      notes_ += cg_->notes();
      cg_.reset();
    }
    out_.ended_ms = clock_.now_ms();
    out_.wall_ms = since_start_.millis();
    out_.stdout_truncated = sout_.truncated;
    out_.stderr_truncated = serr_.truncated;
    out_.enforced = std::move(enforced_);
    if (stats.cpu_seconds) {
      out_.cpu_seconds = *stats.cpu_seconds;
    } else {
      out_.cpu_seconds = static_cast<double>(ru_.ru_utime.tv_sec + ru_.ru_stime.tv_sec) +
                         static_cast<double>(ru_.ru_utime.tv_usec + ru_.ru_stime.tv_usec) / 1e6;
    }
    if (stats.peak_memory_bytes) {
      out_.peak_memory_bytes = *stats.peak_memory_bytes;
    } else {
      out_.peak_memory_bytes = static_cast<std::int64_t>(ru_.ru_maxrss) * 1024;
      notes_ += "peak memory: the largest single process (rusage); ";
    }
    if (setup_error_) {
      std::string step = setup_error_->step;
      return setup_failed(fmt::format("{}: {}", step, errno_text(setup_error_->err)));
    }
    int st = job_status_ ? *job_status_ : init_status_;
    if (!job_status_ && !exec_ok_ && !killed_ && WIFEXITED(st))
      return setup_failed(fmt::format("the sandbox init exited with {} before starting the job", WEXITSTATUS(st)));
    if (WIFSIGNALED(st)) {
      out_.kind = "signaled";
      out_.signal = WTERMSIG(st);
      out_.exit_code = 128 + out_.signal;
    } else {
      out_.kind = "exited";
      out_.exit_code = WEXITSTATUS(st);
    }
    bool clean_exit = out_.kind == "exited" && out_.exit_code == 0;
    if (stop_reason_ == "cancelled") {
      out_.kind = "cancelled";
    } else if (stop_reason_ == "timeout") {
      out_.kind = "timeout";
      notes_ += fmt::format("wall-time limit of {} ms reached; ", *lim_.wall_ms);
    } else if (stats.oom_kills > 0 && !clean_exit) {
      out_.kind = "oom";
      out_.exit_code = 137;
      out_.signal = SIGKILL;
      // With memory.oom.group the count includes the sandbox's init, and a process can be counted
      // twice: report that the killer acted, not a number of processes.
      notes_ += fmt::format("the out-of-memory killer acted (memory.events oom_kill {}); ", stats.oom_kills);
    }
    if (!job_status_ && out_.kind != "cancelled" && out_.kind != "timeout" && out_.kind != "oom")
      notes_ += "the sandbox init ended without the job's status; ";
    out_.detail = join_notes(plan_.notes, notes_);
    return out_;
  }

  const Spec& spec_;
  const RunHooks& hooks_;
  const Limits& lim_;
  SystemClock clock_;
  Stopwatch since_start_;
  Outcome out_;
  std::string notes_;
  const Capabilities* caps_ = nullptr;
  uid_t uid_ = 0;
  gid_t gid_ = 0;
  std::string uid_mode_;
  LaunchPlan plan_;
  std::unique_ptr<JobCgroup> cg_;
  std::map<std::string, std::string> enforced_;
  Fd sync_wr_, sync_rd_, report_rd_, report_wr_, out_wr_, err_wr_, sigfd_, timer_, pidfd_;
  Stream sout_, serr_;
  std::vector<char> stack_;
  pid_t pid_ = -1;
  std::string stop_reason_;  // "", "timeout", "cancelled"
  bool grace_armed_ = false, killed_ = false;
  std::optional<ReportMsg> setup_error_;
  std::optional<int> job_status_;
  bool exec_ok_ = false, report_open_ = true, init_done_ = false;
  std::string report_buf_;
  int init_status_ = 0;
  struct rusage ru_ = {};
};

}  // namespace

Result<Outcome> run(const Spec& spec, const RunHooks& hooks) {
  TRY_STATUS(validate(spec));
  return Supervisor(spec, hooks).run();
}

}  // namespace atrium::sandbox
