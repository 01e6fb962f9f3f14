// Child processes for git: run() to completion with bounded output, and Child, a process whose
// stdout is read as it comes (git http-backend streaming a pack). posix_spawn with a clean signal
// mask; declared in vcs/git.hpp.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/files.hpp"
#include "vcs/git.hpp"

namespace atrium::vcs {

namespace {

constexpr std::size_t kMaxErr = 64 << 10;

std::unexpected<Error> sys_error(const std::string& what) {
  return fail(ErrorCode::kInternal, "git", what + ": " + std::strerror(errno));
}

struct Argv {
  std::vector<char*> ptrs;
  explicit Argv(const std::vector<std::string>& v) {
    for (auto& s : v) ptrs.push_back(const_cast<char*>(s.c_str()));
    ptrs.push_back(nullptr);
  }
};

// Spawns with stdin from `in` (-1: /dev/null), stdout and stderr to the given fds.
Result<pid_t> spawn_with(const std::vector<std::string>& argv, const std::vector<std::string>& env, int in, int out,
                         int err) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (in >= 0)
    posix_spawn_file_actions_adddup2(&fa, in, 0);
  else
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out, 1);
  posix_spawn_file_actions_adddup2(&fa, err, 2);
  posix_spawn_file_actions_addclosefrom_np(&fa, 3);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, dfl;
  sigemptyset(&none);
  sigfillset(&dfl);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &dfl);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  Argv a(argv), e(env);
  pid_t pid = -1;
  int rc = ::posix_spawnp(&pid, argv[0].c_str(), &fa, &attr, a.ptrs.data(), e.ptrs.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return fail(ErrorCode::kInternal, "git", "cannot start " + argv[0] + ": " + std::strerror(rc));
  return pid;
}

int wait_status(pid_t pid) {
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

}  // namespace

Result<RunResult> run(const std::vector<std::string>& argv, const std::vector<std::string>& env, std::string_view input,
                      std::size_t max_out) {
  int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
    for (int* p : {in, out, err}) {
      close_fd(p[0]);
      close_fd(p[1]);
    }
    return sys_error("pipe");
  }
  auto pid = spawn_with(argv, env, in[0], out[1], err[1]);
  close_fd(in[0]);
  close_fd(out[1]);
  close_fd(err[1]);
  if (!pid) {
    for (int* p : {in, out, err}) {
      close_fd(p[0]);
      close_fd(p[1]);
    }
    return std::unexpected(pid.error());
  }
  for (int fd : {in[1], out[0], err[0]}) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  if (input.empty()) close_fd(in[1]);
  RunResult r;
  bool too_much = false;
  std::size_t sent = 0;
  char buf[65536];
  while (out[0] >= 0 || err[0] >= 0) {
    pollfd p[3];
    int n = 0;
    if (in[1] >= 0) p[n++] = {in[1], POLLOUT, 0};
    if (out[0] >= 0) p[n++] = {out[0], POLLIN, 0};
    if (err[0] >= 0) p[n++] = {err[0], POLLIN, 0};
    if (::poll(p, static_cast<nfds_t>(n), -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < n; ++i) {
      if (!p[i].revents) continue;
      if (p[i].fd == in[1]) {
        ssize_t w = ::write(in[1], input.data() + sent, std::min<std::size_t>(input.size() - sent, sizeof buf));
        if (w > 0) sent += static_cast<std::size_t>(w);
        if ((w < 0 && errno != EAGAIN && errno != EINTR) || sent == input.size()) close_fd(in[1]);
        continue;
      }
      int& fd = p[i].fd == out[0] ? out[0] : err[0];
      std::string& dst = p[i].fd == out[0] ? r.out : r.err;
      ssize_t got = ::read(fd, buf, sizeof buf);
      if (got > 0) {
        std::size_t cap = &dst == &r.out ? max_out : kMaxErr;
        std::size_t take = std::min<std::size_t>(static_cast<std::size_t>(got), cap - std::min(cap, dst.size()));
        dst.append(buf, take);
        if (&dst == &r.out && take < static_cast<std::size_t>(got)) {
          too_much = true;
          ::kill(*pid, SIGKILL);
        }
      } else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
        close_fd(fd);
      }
    }
  }
  close_fd(in[1]);
  r.status = wait_status(*pid);
  if (too_much)
    return fail(Error(ErrorCode::kPayloadTooLarge, "too-large",
                      "the result is larger than " + std::to_string(max_out) + " bytes")
                    .with("max_bytes", static_cast<std::int64_t>(max_out)));
  return r;
}

Child::Child(Child&& o) noexcept : pid_(o.pid_), out_(o.out_), err_(o.err_) {
  o.pid_ = -1;
  o.out_ = o.err_ = -1;
}

Child& Child::operator=(Child&& o) noexcept {
  if (this != &o) {
    this->~Child();
    pid_ = o.pid_;
    out_ = o.out_;
    err_ = o.err_;
    o.pid_ = -1;
    o.out_ = o.err_ = -1;
  }
  return *this;
}

Child::~Child() {
  close_fd(out_);
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    wait_status(pid_);
  }
  close_fd(err_);
}

Result<Child> Child::spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env, int stdin_fd) {
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return sys_error("pipe");
  // stderr goes to an unlinked file: it is read once the child ends and never blocks it.
  int err = ::open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (err < 0) {
    ::close(out[0]);
    ::close(out[1]);
    return sys_error("stderr file");
  }
  auto pid = spawn_with(argv, env, stdin_fd, out[1], err);
  ::close(out[1]);
  if (!pid) {
    ::close(out[0]);
    ::close(err);
    return std::unexpected(pid.error());
  }
  ::fcntl(out[0], F_SETFL, ::fcntl(out[0], F_GETFL) | O_NONBLOCK);
  Child c;
  c.pid_ = *pid;
  c.out_ = out[0];
  c.err_ = err;
  return c;
}

Result<bool> Child::read(std::string& out, std::size_t max) {
  if (out_ < 0) return false;
  std::size_t old = out.size();
  out.resize(old + max);
  ssize_t n = ::read(out_, out.data() + old, max);
  out.resize(old + static_cast<std::size_t>(std::max<ssize_t>(n, 0)));
  if (n > 0) return true;
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return true;
  if (n < 0) return sys_error("read from git");
  close_fd(out_);
  return false;
}

Result<bool> Child::read_blocking(std::string& out, std::size_t max) {
  while (out_ >= 0) {
    std::size_t before = out.size();
    bool more = TRY(read(out, max));
    if (!more) return false;
    if (out.size() > before) return true;
    pollfd p{out_, POLLIN, 0};
    ::poll(&p, 1, -1);
  }
  return false;
}

RunResult Child::wait() {
  RunResult r;
  close_fd(out_);
  if (pid_ > 0) r.status = wait_status(pid_);
  pid_ = -1;
  if (err_ >= 0) {
    char buf[4096];
    ssize_t n = ::pread(err_, buf, sizeof buf, 0);
    if (n > 0) r.err.assign(buf, static_cast<std::size_t>(n));
  }
  close_fd(err_);
  return r;
}

}  // namespace atrium::vcs
