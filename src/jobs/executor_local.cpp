#include "jobs/executor_local.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <fstream>

#include <spdlog/spdlog.h>

#include "core/io_thread.hpp"
#include "sandbox/sandbox.hpp"

namespace atrium::jobs {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// How long adopt() waits for a supervisor that has just taken its lock to write supervisor.json.
constexpr Millis kSupervisorStartWait = 2'000;

int pidfd_open(int pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

bool readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) > 0;
}

std::optional<json> read_json_file(const fs::path& p) {
  std::ifstream in(p);
  if (!in) return std::nullopt;
  try {
    return json::parse(in);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// supervisor.json in `dir`, waiting (on inotify, at most kSupervisorStartWait) for a supervisor
// that holds its lock but has not written it yet: it does as soon as the job runs.
std::optional<json> await_supervisor_json(const fs::path& dir) {
  fs::path file = dir / "supervisor.json";
  int in = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (in >= 0) ::inotify_add_watch(in, dir.c_str(), IN_MOVED_TO | IN_CLOSE_WRITE | IN_CREATE);
  std::optional<json> sup = read_json_file(file);
  Stopwatch waited;
  while (!sup && in >= 0 && waited.millis() < kSupervisorStartWait) {
    pollfd p{in, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(kSupervisorStartWait - waited.millis())) <= 0) break;
    char buf[4096];
    while (::read(in, buf, sizeof buf) > 0) {
    }
    sup = read_json_file(file);
  }
  if (in >= 0) ::close(in);
  return sup;
}

}  // namespace

fs::path run_dir_of(const fs::path& data_dir, const JobRecord& r) {
  return data_dir / "jobs" / r.id() / ("run" + std::to_string(r.job.requeue_count));
}

// One supervisor being waited for. The coroutine on the I/O thread owns a reference; the pidfd
// closes with the last one.
struct LocalExecutor::Watch {
  std::string id;
  int pid = 0;
  int pidfd = -1;
  bool child = false;  // spawned by this server (reaped here), not adopted
  std::atomic<bool> cancelled{false};
  async::Waiter waiter;
  ~Watch() {
    if (pidfd >= 0) ::close(pidfd);
  }
};

LocalExecutor::LocalExecutor(async::Runtime& rt, const Clock& clock, Settings settings)
    : rt_(rt), clock_(clock), settings_(std::move(settings)) {}

LocalExecutor::~LocalExecutor() { shutdown(); }

std::optional<json> LocalExecutor::outcome(const JobRecord& rec) const {
  return read_json_file(run_dir_of(settings_.data_dir, rec) / "outcome.json");
}

// ------------------------------------------------------------------------------ start

Status LocalExecutor::start(const StartRequest& req) {
  expect_blocking_allowed("jobs::LocalExecutor::start");
  auto st = prepare_and_spawn(req);
  if (!st) {
    // Never ran: a stop asked for meanwhile must not reach a later run (after a requeue).
    std::lock_guard lk(mu_);
    stop_marks_.erase(req.rec.id());
  }
  return st;
}

Status LocalExecutor::prepare_and_spawn(const StartRequest& req) {
  const JobRecord& r = req.rec;
  fs::path dir = run_dir_of(settings_.data_dir, r);
  // <data>/jobs/<id>/ and its run directories are root's (0711). The workspace beside them
  // belongs to the job's uid, which may have left anything in it in an earlier run (a requeue):
  // every step goes through directory fds (core/dir.hpp) and never follows a link, and the
  // workspace is made anew, root-only while the code is written into it.
  auto jobs_root = Dir::open_or_create(settings_.data_dir / "jobs", 0711);
  if (!jobs_root) return internal("cannot open the jobs directory: " + jobs_root.error().detail);
  auto job_dir = jobs_root->make_dirs(r.id(), 0711);
  if (!job_dir) return internal("cannot create the job's directory: " + job_dir.error().detail);
  auto run = job_dir->make_fresh(dir.filename().string(), 0711);
  if (!run) return internal("cannot create the run directory: " + run.error().detail);
  auto in = run->make_dirs("in", 0755);
  if (!in) return internal("cannot create the run directory: " + in.error().detail);
  auto wsd = job_dir->make_fresh("workspace", 0700);
  if (!wsd) return internal("cannot make the workspace anew: " + wsd.error().detail);
  // The workspace holds the project's code at the commit pinned at submission.
  if (req.commit) {
    if (!settings_.checkout) return internal("this server cannot check out code");
    if (auto st = settings_.checkout(r.project_id, req.commit->commit, dir.parent_path() / "workspace", r.uid); !st)
      return internal("checking out " + req.commit->commit + ": " + st.error().detail);
  }
  const Owner tenant{static_cast<std::uint32_t>(r.uid), static_cast<std::uint32_t>(r.uid)};
  if (auto st = wsd->chown(tenant); !st) return internal("cannot hand the workspace to uid " + std::to_string(r.uid));
  TRY_STATUS(wsd->chmod(0700));

  auto spec = TRY(make_spec(req, *in));
  if (settings_.prepare)
    if (auto st = settings_.prepare(r, spec); !st) return internal("preparing the sandbox: " + st.error().detail);
  // spec.json never holds a secret: they go to the supervisor through a socket (secret_payload).
  TRY_STATUS(run->write_file("spec.json", sandbox::to_json(spec).dump(), 0600));
  std::string payload = TRY(secret_payload(req, spec));
  auto st = spawn(r, dir, payload);
  std::fill(payload.begin(), payload.end(), '\0');
  return st;
}

// {"env": {...}, "files": {...}} for `atrium exec --secrets -` ("" when the job asked for none).
// A secret variable never replaces one the job already has (its env, Atrium's, the environment's).
Result<std::string> LocalExecutor::secret_payload(const StartRequest& req, const sandbox::Spec& spec) {
  if (req.secrets.empty()) return std::string();
  json env = json::object(), files = json::object();
  std::size_t env_bytes = 0;
  for (const auto& v : req.secrets) {
    const std::string& name = v.request.name;
    if (v.request.as == "file") {
      files[name] = v.value;
      continue;
    }
    if (spec.env.contains(name))
      return fail(Error(ErrorCode::kFailedPrecondition, "secret-refused",
                        "the secret " + name + " would replace the job's variable of that name; rename one"));
    env_bytes += name.size() + v.value.size() + 2;
    env[name] = v.value;
  }
  if (env_bytes > secrets::kMaxEnvBytes)
    return fail(Error(ErrorCode::kFailedPrecondition, "secret-refused",
                      "the job's secret variables together pass " + std::to_string(secrets::kMaxEnvBytes >> 10) +
                          " KiB; ask for the large ones as files (NAME:file)"));
  return json{{"env", env}, {"files", files}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

// Hands the secrets to a just-spawned supervisor through its stdin (a socket: a write to a dead
// reader fails with EPIPE instead of a SIGPIPE, and a stuck one times out).
Status LocalExecutor::send_secrets(int fd, const std::string& payload) {
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  for (std::size_t off = 0; off < payload.size();) {
    ssize_t n = ::send(fd, payload.data() + off, payload.size() - off, MSG_NOSIGNAL);
    if (n > 0) off += static_cast<std::size_t>(n);
    else if (n < 0 && errno != EINTR) return internal("handing the secrets to the job's supervisor: " + std::string(std::strerror(errno)));
  }
  ::shutdown(fd, SHUT_WR);
  return {};
}

// The sandbox of a run: limits from the allocation, the script or argv, the datasets, and the
// environment batch scripts expect (SLURM's variables too, so they port unchanged).
Result<sandbox::Spec> LocalExecutor::make_spec(const StartRequest& req, Dir& in) {
  const JobRecord& r = req.rec;
  const compute::Allocation& alloc = req.alloc;
  fs::path dir = run_dir_of(settings_.data_dir, r);
  sandbox::Spec spec;
  spec.id = r.id();
  spec.workspace = (dir.parent_path() / "workspace").string();
  spec.uid = static_cast<std::uint32_t>(r.uid);
  spec.gid = static_cast<std::uint32_t>(r.uid);
  spec.gpus = alloc.gpus;
  spec.hostname = "job";
  spec.rootfs = req.rootfs;
  spec.cgroup_parent = settings_.cgroup_parent;
  spec.stdout_path = (dir / "stdout").string();
  spec.stderr_path = (dir / "stderr").string();
  spec.limits.memory_bytes = alloc.mem_mb << 20;
  spec.limits.cpus = alloc.cpus;
  spec.limits.pids = settings_.max_pids;
  spec.limits.wall_ms = r.job.request.time_limit;
  spec.limits.kill_grace_ms = settings_.kill_grace;
  spec.limits.output_bytes = settings_.max_output_bytes;
  if (!r.script.empty()) {
    std::string text = r.script.rfind("#!", 0) == 0 ? r.script : "#!/bin/sh\n" + r.script;
    TRY_STATUS(in.write_file("job.sh", text, 0755));
    spec.mounts.push_back({(dir / "in").string(), "/atrium", false});
    spec.argv = {"/atrium/job.sh"};
  } else {
    spec.argv = r.argv;
  }
  // Dataset versions, read-only at /data/<name>.
  for (auto& m : req.datasets) {
    if (!settings_.dataset_dir) return internal("this server cannot mount datasets");
    auto src = settings_.dataset_dir(m.dataset_id, m.number, r.uid);
    if (!src) return internal("dataset " + m.name + " version " + std::to_string(m.number) + ": " + src.error().detail);
    spec.mounts.push_back({*src, "/data/" + m.name, false});
  }
  spec.env = r.env;
  spec.env["ATRIUM_JOB_ID"] = r.id();
  spec.env["ATRIUM_PROJECT_ID"] = r.project_id;
  if (req.commit) {
    spec.env["ATRIUM_COMMIT"] = req.commit->commit;
    spec.env["ATRIUM_REF"] = req.commit->ref;
  }
  spec.env["ATRIUM_CPUS"] = std::to_string(alloc.cpus);
  spec.env["SLURM_JOB_ID"] = r.id();
  spec.env["SLURM_CPUS_PER_TASK"] = std::to_string(alloc.cpus);
  spec.env["OMP_NUM_THREADS"] = std::to_string(alloc.cpus);
  if (r.job.array) {
    spec.env["ATRIUM_ARRAY_ID"] = r.job.array->array_id;
    spec.env["ATRIUM_ARRAY_TASK_ID"] = std::to_string(r.job.array->index);
    spec.env["SLURM_ARRAY_JOB_ID"] = r.job.array->array_id;
    spec.env["SLURM_ARRAY_TASK_ID"] = std::to_string(r.job.array->index);
  }
  return spec;
}

// `atrium exec --spec <run>/spec.json --state-dir <run>`, in a session of its own with none of
// the server's descriptors, so it outlives the server.
Status LocalExecutor::spawn(const JobRecord& r, const fs::path& dir, const std::string& secrets) {
  std::string spec_arg = (dir / "spec.json").string(), dir_arg = dir.string(), log = (dir / "supervisor.log").string();
  std::vector<char*> argv{const_cast<char*>(settings_.exe.c_str()), const_cast<char*>("exec"),
                          const_cast<char*>("--spec"),             spec_arg.data(),
                          const_cast<char*>("--state-dir"),        dir_arg.data()};
  int sv[2] = {-1, -1};  // secrets: [0] ours, [1] the supervisor's stdin
  if (!secrets.empty()) {
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
      return internal("socketpair: " + std::string(std::strerror(errno)));
    argv.push_back(const_cast<char*>("--secrets"));
    argv.push_back(const_cast<char*>("-"));
  }
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (sv[1] >= 0) posix_spawn_file_actions_adddup2(&fa, sv[1], 0);
  else posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  // Nothing of the server's (listening sockets, the database, other jobs' pidfds) may live on
  // in a supervisor that outlives it.
  posix_spawn_file_actions_addclosefrom_np(&fa, 3);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t mask;
  sigemptyset(&mask);
  // Stop signals start blocked: a cancel before `atrium exec` blocks them itself must not kill it.
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&mask, sig);
  posix_spawnattr_setsigmask(&attr, &mask);
  sigset_t dfl;
  sigfillset(&dfl);
  posix_spawnattr_setsigdefault(&attr, &dfl);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  char* env[] = {nullptr};
  pid_t pid = 0;
  int rc = ::posix_spawn(&pid, settings_.exe.c_str(), &fa, &attr, argv.data(), env);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (sv[1] >= 0) ::close(sv[1]);
  if (rc != 0) {
    if (sv[0] >= 0) ::close(sv[0]);
    return internal("cannot start the job's supervisor: " + std::string(std::strerror(rc)));
  }
  int fd = pidfd_open(pid);
  Status sent = fd < 0 ? internal("pidfd_open: " + std::string(std::strerror(errno)))
                       : sv[0] >= 0 ? send_secrets(sv[0], secrets) : Status{};
  if (sv[0] >= 0) ::close(sv[0]);
  if (!sent) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    if (fd >= 0) ::close(fd);
    return sent;
  }
  watch(r.id(), pid, fd, true);
  return {};
}

// ------------------------------------------------------------------------------ watching

void LocalExecutor::watch(const std::string& id, int pid, int pidfd, bool child) {
  auto w = std::make_shared<Watch>();
  w->id = id;
  w->pid = pid;
  w->pidfd = pidfd;
  w->child = child;
  std::lock_guard lk(mu_);
  if (stopping_ || !work_.enter()) return;  // the server stops: the next start adopts it
  running_[id] = w;
  if (stop_marks_.contains(id)) ::kill(pid, SIGTERM);
  rt_.spawn(wait_exit(w));
}

async::Task<void> LocalExecutor::wait_exit(std::shared_ptr<Watch> w) {
  while (!w->cancelled.load() && !readable(w->pidfd)) co_await w->waiter.wait_readable(w->pidfd, clock_);
  if (w->cancelled.load()) {
    work_.leave();
    co_return;
  }
  // Recording the end reads and writes the database: the worker pool's work.
  async::asio::post(rt_.pool(), [this, w] {
    reap(*w);
    work_.leave();
  });
}

void LocalExecutor::reap(const Watch& w) {
  {
    std::lock_guard lk(mu_);
    if (auto it = running_.find(w.id); it != running_.end() && it->second.get() == &w) running_.erase(it);
    stop_marks_.erase(w.id);
  }
  int status = 0;
  std::string cause = "the job's supervisor ended without an outcome";
  if (w.child && ::waitpid(w.pid, &status, 0) == w.pid) {
    if (WIFSIGNALED(status)) cause += " (killed by signal " + std::to_string(WTERMSIG(status)) + ")";
    else cause += " (exit " + std::to_string(WEXITSTATUS(status)) + ")";
  }
  sandbox::cleanup(w.id, settings_.cgroup_parent);  // nothing to do when the supervisor cleaned up
  exited(w.id, cause);
}

void LocalExecutor::stop(const std::string& id) {
  std::lock_guard lk(mu_);
  stop_marks_.insert(id);
  if (auto it = running_.find(id); it != running_.end()) ::kill(it->second->pid, SIGTERM);
}

void LocalExecutor::shutdown() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
    for (auto& [id, w] : running_) {
      w->cancelled.store(true);
      w->waiter.wake();
    }
  }
  work_.close_and_wait();
  // Supervisors keep running: the next start re-adopts them.
  std::lock_guard lk(mu_);
  running_.clear();
}

// ------------------------------------------------------------------------------ adoption

Executor::Adopted LocalExecutor::adopt(const JobRecord& rec) {
  fs::path dir = run_dir_of(settings_.data_dir, rec);
  // The supervisor holds an exclusive lock on <run>/lock while it lives.
  int lock = ::open((dir / "lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  bool alive = lock >= 0 && ::flock(lock, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  std::optional<json> sup = alive ? await_supervisor_json(dir) : read_json_file(dir / "supervisor.json");
  if (alive && sup && sup->contains("pid")) {
    int pid = (*sup)["pid"].get<int>();
    int fd = pidfd_open(pid);
    if (fd >= 0) {
      ::close(lock);
      if (!rec.stop_requested.empty()) {
        std::lock_guard lk(mu_);
        stop_marks_.insert(rec.id());  // re-sent by watch()
      }
      watch(rec.id(), pid, fd, false);
      spdlog::info("job {}: re-adopted its running supervisor (pid {})", rec.id(), pid);
      return {.running = true};
    }
  }
  // Gone (or never started): the lock is ours now, and a supervisor that starts late finds the
  // run abandoned and does not run the job.
  if (lock >= 0) {
    if (auto run = Dir::open(dir)) (void)run->write_file("abandoned", "", 0600);
    ::close(lock);
  }
  if (int n = sandbox::cleanup(rec.id(), settings_.cgroup_parent); n > 0)
    spdlog::info("job {}: removed {} cgroup directories its supervisor left behind", rec.id(), n);
  return {.running = false,
          .cause = alive ? "the job's supervisor could not be found again after a server restart"
                         : "the job's process was gone after a server restart"};
}

}  // namespace atrium::jobs
