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

Millis steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

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
    return fail(ErrorCode::kFailedPrecondition, "sandbox-setup", fmt::format("{} {}: {}", field, path, errno_text(errno)));
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

Result<Outcome> run(const Spec& spec, const RunHooks& hooks) {
  TRY_STATUS(validate(spec));
  SystemClock clock;
  Outcome out;
  out.started_ms = clock.now_ms();
  const Millis t0 = steady_ms();
  std::string notes;
  auto setup_failed = [&](std::string detail) {
    out.kind = "setup_failed";
    out.exit_code = kSetupExitCode;
    out.enforced.clear();  // nothing ran, nothing was enforced
    out.ended_ms = clock.now_ms();
    out.wall_ms = steady_ms() - t0;
    out.detail = notes.empty() ? detail : detail + "; " + notes;
    while (!out.detail.empty() && (out.detail.back() == ' ' || out.detail.back() == ';')) out.detail.pop_back();
    return out;
  };

  const Capabilities& caps = launch_capabilities();
  if (!caps.user_namespaces) return setup_failed("user namespaces are not available on this host");
  if (!caps.seccomp) return setup_failed("seccomp is not available on this host");

  // Who the job runs as: a per-user host uid when we are root (never root itself), else the caller.
  uid_t uid;
  gid_t gid;
  std::string uid_mode;
  if (caps.root) {
    uid = spec.uid.value_or(65534);
    gid = spec.gid.value_or(spec.uid ? *spec.uid : 65534);
    uid_mode = spec.uid ? "per-user" : "nobody";
  } else {
    uid = ::getuid();
    gid = ::getgid();
    uid_mode = "caller";
    if (spec.uid && *spec.uid != uid) notes += fmt::format("uid {} ignored: not root, the job runs as the caller ({}); ", *spec.uid, uid);
    if (uid == 0) return setup_failed("refusing to run a job as uid 0 without CAP_SYS_ADMIN to map another uid");
  }

  auto planned = build_plan(spec, uid, gid, caps.root);
  if (!planned) return setup_failed(planned.error().detail);
  LaunchPlan& plan = *planned;
  auto filter = build_seccomp_filter();
  if (!filter) return setup_failed(filter.error().detail);
  plan.seccomp = std::move(*filter);

  // Limits: the cgroup where one is writable, else rlimits, and only what really happened is
  // claimed in `enforced`.
  std::unique_ptr<JobCgroup> cg;
  {
    auto made = create_job_cgroup(cgroup_layout(), spec, plan.devices, notes);
    if (!made) return setup_failed(made.error().detail);
    cg = std::move(*made);
  }
  struct CgroupCleanup {
    std::unique_ptr<JobCgroup>& cg;
    ~CgroupCleanup() {
      if (cg) cg->remove();
    }
  } cleanup{cg};
  std::map<std::string, std::string> enforced;
  if (cg) {
    enforced = cg->enforced();
    notes += cg->notes();
  }
  const auto& lim = spec.limits;
  if (lim.memory_bytes && !enforced.contains("memory")) {
    plan.rlimits.push_back({RLIMIT_AS, static_cast<rlim_t>(*lim.memory_bytes)});
    enforced["memory"] = "rlimit";
    notes += "memory: RLIMIT_AS per process (no memory cgroup), no OOM detection; ";
  }
  if (lim.pids && !enforced.contains("pids")) {
    plan.rlimits.push_back({RLIMIT_NPROC, static_cast<rlim_t>(*lim.pids + 1)});
    enforced["pids"] = "rlimit";
    notes += fmt::format("pids: RLIMIT_NPROC counts every process of uid {}; ", uid);
  }
  if (lim.cpus && !enforced.contains("cpu")) {
    if (lim.wall_ms) {
      auto secs = static_cast<rlim_t>(std::ceil(*lim.cpus * static_cast<double>(*lim.wall_ms) / 1000.0)) + 1;
      plan.rlimits.push_back({RLIMIT_CPU, secs});
      enforced["cpu_time"] = "rlimit";
      notes += fmt::format("cpu: no cpu cgroup, bandwidth not limited; RLIMIT_CPU {} s per process; ", secs);
    } else {
      notes += "cpu: no cpu cgroup, cpus not enforced; ";
    }
  }
  if (lim.wall_ms) enforced["wall"] = "timer";
  if (lim.output_bytes) enforced["output"] = "cap";
  if (!spec.network) enforced["network"] = "netns";
  enforced["seccomp"] = "allow-list";
  enforced["uid"] = uid_mode;
  enforced["capabilities"] = "none";
  enforced["no_new_privs"] = "yes";
  enforced["filesystem"] = "read-only-root";
  enforced["namespaces"] = spec.network ? "user,mount,pid,ipc,uts,cgroup" : "user,mount,pid,ipc,uts,cgroup,net";
  enforced["kill"] = cg && cg->kills_by_cgroup() ? "cgroup.kill" : "pid-namespace";
  if (!spec.gpus.empty()) enforced["gpus"] = "device-nodes";

  // Pipes and files.
  int p_sync[2], p_report[2], p_out[2], p_err[2];
  if (::pipe2(p_sync, O_CLOEXEC) || ::pipe2(p_report, O_CLOEXEC) || ::pipe2(p_out, O_CLOEXEC) || ::pipe2(p_err, O_CLOEXEC))
    return setup_failed(fmt::format("pipe: {}", errno_text(errno)));
  Fd sync_wr(p_sync[1]), sync_rd(p_sync[0]), report_rd(p_report[0]), report_wr(p_report[1]);
  Stream sout, serr;
  sout.pipe.reset(p_out[0]);
  serr.pipe.reset(p_err[0]);
  Fd out_wr(p_out[1]), err_wr(p_err[1]);
  sout.cap = serr.cap = lim.output_bytes;
  {
    auto f = open_output(spec.stdout_path, "stdout_path");
    if (!f) return setup_failed(f.error().detail);
    sout.file = std::move(*f);
    auto g = open_output(spec.stderr_path, "stderr_path");
    if (!g) return setup_failed(g.error().detail);
    serr.file = std::move(*g);
  }
  plan.sync_rd = sync_rd.get();
  plan.sync_wr = sync_wr.get();
  plan.report_wr = report_wr.get();
  plan.report_rd = report_rd.get();
  plan.out_wr = out_wr.get();
  plan.err_wr = err_wr.get();
  plan.out_rd = sout.pipe.get();
  plan.err_rd = serr.pipe.get();

  // Our stop signals arrive on a signalfd (blocked here, so also blocked in the child until the
  // job resets its mask).
  sigset_t stopset, oldmask;
  sigemptyset(&stopset);
  for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&stopset, s);
  ::pthread_sigmask(SIG_BLOCK, &stopset, &oldmask);
  Fd sigfd(::signalfd(-1, &stopset, SFD_CLOEXEC | SFD_NONBLOCK));
  struct MaskRestore {
    int sigfd;
    sigset_t old;
    ~MaskRestore() {
      signalfd_siginfo si;
      while (sigfd >= 0 && ::read(sigfd, &si, sizeof si) == sizeof si) {
      }  // consumed: must not fire once unblocked
      ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
    }
  } restore{sigfd.get(), oldmask};
  Fd timer(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
  if (!sigfd.valid() || !timer.valid()) return setup_failed(fmt::format("signalfd/timerfd: {}", errno_text(errno)));

  std::vector<char> stack(kStackSize);
  int pidfd_raw = -1;
  pid_t pid = ::clone(sandbox_init_main, stack.data() + stack.size(), plan.clone_flags | CLONE_PIDFD | SIGCHLD, &plan,
                      &pidfd_raw);
  if (pid < 0) return setup_failed(fmt::format("clone: {}", errno_text(errno)));
  Fd pidfd(pidfd_raw);
  sync_rd.reset();
  report_wr.reset();
  out_wr.reset();
  err_wr.reset();

  // Finish the namespace from outside: uid/gid maps, then the cgroups, then let the child go.
  auto abort_child = [&](std::string why) {
    send_signal(pidfd.get(), pid, SIGKILL);
    int st;
    while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    return setup_failed(std::move(why));
  };
  {
    std::string base = fmt::format("/proc/{}", pid);
    if (int e = write_file(base + "/uid_map", fmt::format("{} {} 1\n", uid, uid)))
      return abort_child(fmt::format("write uid_map: {}", errno_text(e)));
    if (!caps.root) {
      if (int e = write_file(base + "/setgroups", "deny")) return abort_child(fmt::format("write setgroups: {}", errno_text(e)));
    }
    if (int e = write_file(base + "/gid_map", fmt::format("{} {} 1\n", gid, gid)))
      return abort_child(fmt::format("write gid_map: {}", errno_text(e)));
    if (cg) {
      if (auto st = cg->join(pid); !st) return abort_child(st.error().detail);
    }
    // sync_wr stays open until run() returns: the init takes EOF on it as "the supervisor died".
    if (::write(sync_wr.get(), "g", 1) != 1) return abort_child(fmt::format("release the child: {}", errno_text(errno)));
  }
  if (lim.wall_ms) arm(timer.get(), *lim.wall_ms);

  // Supervise.
  std::string stop_reason;  // "", "timeout", "cancelled"
  bool grace_armed = false, killed = false;
  auto kill_everything = [&] {
    killed = true;
    if (cg) cg->kill_all();
    send_signal(pidfd.get(), pid, SIGKILL);  // the pid-namespace init: the kernel kills the rest
  };
  auto begin_stop = [&](const char* reason) {
    if (!stop_reason.empty()) {  // a second stop request does not wait for the grace period
      if (std::string_view(reason) == "cancelled" && !killed) kill_everything();
      return;
    }
    stop_reason = reason;
    send_signal(pidfd.get(), pid, SIGTERM);  // the init forwards it to the job's process group
    if (lim.kill_grace_ms <= 0) {
      kill_everything();
    } else {
      arm(timer.get(), lim.kill_grace_ms);
      grace_armed = true;
    }
  };

  std::optional<ReportMsg> setup_error;
  std::optional<int> job_status;
  bool exec_ok = false;
  std::string report_buf;
  bool report_open = true, out_open = true, err_open = true, init_done = false;
  int init_status = 0;
  struct rusage ru = {};
  Millis drain_deadline = 0;

  while (report_open || out_open || err_open || !init_done) {
    pollfd fds[6];
    int nfds = 0;
    int i_rep = -1, i_out = -1, i_err = -1, i_pid = -1, i_sig, i_tim;
    if (report_open) fds[i_rep = nfds++] = {report_rd.get(), POLLIN, 0};
    if (out_open) fds[i_out = nfds++] = {sout.pipe.get(), POLLIN, 0};
    if (err_open) fds[i_err = nfds++] = {serr.pipe.get(), POLLIN, 0};
    if (!init_done) fds[i_pid = nfds++] = {pidfd.get(), POLLIN, 0};
    fds[i_sig = nfds++] = {sigfd.get(), POLLIN, 0};
    fds[i_tim = nfds++] = {timer.get(), POLLIN, 0};
    int timeout = -1;
    if (init_done) {
      Millis left = drain_deadline - steady_ms();
      if (left <= 0) {
        notes += "output pipes still open after the job ended; stopped reading; ";
        break;
      }
      timeout = static_cast<int>(left);
    }
    int rc = ::poll(fds, static_cast<nfds_t>(nfds), timeout);
    if (rc < 0) {
      if (errno == EINTR) continue;
      notes += fmt::format("poll: {}; ", errno_text(errno));
      kill_everything();
      break;
    }
    auto ready = [&](int i) { return i >= 0 && (fds[i].revents & (POLLIN | POLLHUP | POLLERR)); };
    if (ready(i_out) && !sout.pump(notes, "stdout")) out_open = false;
    if (ready(i_err) && !serr.pump(notes, "stderr")) err_open = false;
    if (ready(i_rep)) {
      char buf[sizeof(ReportMsg) * 4];
      ssize_t n = ::read(report_rd.get(), buf, sizeof buf);
      if (n == 0) {
        report_open = false;
      } else if (n > 0) {
        report_buf.append(buf, static_cast<size_t>(n));
        while (report_buf.size() >= sizeof(ReportMsg)) {
          ReportMsg m;
          std::memcpy(&m, report_buf.data(), sizeof m);
          report_buf.erase(0, sizeof m);
          m.step[sizeof m.step - 1] = '\0';
          if (m.kind == ReportMsg::kSetupError && !setup_error) {
            setup_error = m;
          } else if (m.kind == ReportMsg::kExecOk) {
            exec_ok = true;
            if (hooks.on_started) hooks.on_started(pid);
          } else if (m.kind == ReportMsg::kJobStatus) {
            job_status = m.status;
          }
        }
      }
    }
    if (ready(i_sig)) {
      signalfd_siginfo si;
      while (::read(sigfd.get(), &si, sizeof si) == sizeof si) begin_stop("cancelled");
    }
    if (ready(i_tim)) {
      std::uint64_t ticks;
      if (::read(timer.get(), &ticks, sizeof ticks) == sizeof ticks && !init_done) {
        if (!grace_armed)
          begin_stop("timeout");
        else if (!killed)
          kill_everything();
      }
    }
    if (ready(i_pid)) {
      pid_t w = ::wait4(pid, &init_status, WNOHANG, &ru);
      if (w == pid) {
        init_done = true;
        drain_deadline = steady_ms() + kDrainMs;
      }
    }
  }
  if (!init_done) {  // only after a poll failure or a drain timeout
    kill_everything();
    while (::wait4(pid, &init_status, 0, &ru) < 0 && errno == EINTR) {
    }
  }
  CgroupStats stats;
  if (cg) {
    stats = cg->stats();
    cg->remove();
    notes += cg->notes();
    cg.reset();
  }

  out.ended_ms = clock.now_ms();
  out.wall_ms = steady_ms() - t0;
  out.stdout_truncated = sout.truncated;
  out.stderr_truncated = serr.truncated;
  out.enforced = std::move(enforced);
  if (stats.cpu_seconds) {
    out.cpu_seconds = *stats.cpu_seconds;
  } else {
    out.cpu_seconds = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                      static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  }
  if (stats.peak_memory_bytes) {
    out.peak_memory_bytes = *stats.peak_memory_bytes;
  } else {
    out.peak_memory_bytes = static_cast<std::int64_t>(ru.ru_maxrss) * 1024;
    notes += "peak memory: the largest single process (rusage); ";
  }

  if (setup_error) {
    std::string step = setup_error->step;
    auto o = setup_failed(fmt::format("{}: {}", step, errno_text(setup_error->err)));
    return o;
  }
  int st = job_status ? *job_status : init_status;
  if (!job_status && !exec_ok && !killed && WIFEXITED(st))
    return setup_failed(fmt::format("the sandbox init exited with {} before starting the job", WEXITSTATUS(st)));
  if (WIFSIGNALED(st)) {
    out.kind = "signaled";
    out.signal = WTERMSIG(st);
    out.exit_code = 128 + out.signal;
  } else {
    out.kind = "exited";
    out.exit_code = WEXITSTATUS(st);
  }
  bool clean_exit = out.kind == "exited" && out.exit_code == 0;
  if (stop_reason == "cancelled") {
    out.kind = "cancelled";
  } else if (stop_reason == "timeout") {
    out.kind = "timeout";
    notes += fmt::format("wall-time limit of {} ms reached; ", *lim.wall_ms);
  } else if (stats.oom_kills > 0 && !clean_exit) {
    out.kind = "oom";
    out.exit_code = 137;
    out.signal = SIGKILL;
    // With memory.oom.group the count includes the sandbox's init, and a process can be counted
    // twice: report that the killer acted, not a number of processes.
    notes += fmt::format("the out-of-memory killer acted (memory.events oom_kill {}); ", stats.oom_kills);
  }
  if (!job_status && out.kind != "cancelled" && out.kind != "timeout" && out.kind != "oom")
    notes += "the sandbox init ended without the job's status; ";
  out.detail = join_notes(plan.notes, notes);
  return out;
}

}  // namespace atrium::sandbox
