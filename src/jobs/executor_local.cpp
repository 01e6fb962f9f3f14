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
#include "jobs/run_prep.hpp"
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
  auto run = TRY(prepare_run(settings_, req));
  // spec.json never holds a secret: they go to the supervisor through a socket (secret_payload).
  std::string payload = TRY(secret_payload(req.secrets, run.spec.env));
  auto st = spawn(req.rec, run.dir, payload);
  std::fill(payload.begin(), payload.end(), '\0');
  return st;
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
