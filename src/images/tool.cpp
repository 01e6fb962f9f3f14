#include "images/tool.hpp"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <cstdlib>
#include <filesystem>

namespace atrium::images {
namespace {

// argv[0] on PATH, resolved before fork (execvp is not async-signal-safe).
std::string find_program(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = std::getenv("PATH");
  std::string p = path ? path : "/usr/local/bin:/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= p.size()) {
    auto colon = p.find(':', start);
    std::string dir = p.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
    if (!dir.empty()) {
      std::string full = dir + "/" + name;
      if (::access(full.c_str(), X_OK) == 0) return full;
    }
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  return name;
}

struct Pipe {
  int r = -1, w = -1;
  ~Pipe() {
    if (r >= 0) ::close(r);
    if (w >= 0) ::close(w);
  }
};

[[noreturn]] void child(const std::string& exe, char* const* argv, char* const* envp, const ToolOptions& o, int out,
                        int err) {
  // Only async-signal-safe calls from here on.
  int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (devnull < 0 || ::dup2(devnull, 0) < 0 || ::dup2(out, 1) < 0 || ::dup2(err, 2) < 0) ::_exit(126);
  // The kept fds move to 3, 4, ... (above every fd we might clobber first).
  int n = static_cast<int>(o.keep_fds.size());
  for (int i = 0; i < n; ++i)
    if (::dup2(o.keep_fds[i], 100 + i) < 0) ::_exit(126);
  for (int i = 0; i < n; ++i)
    if (::dup2(100 + i, 3 + i) < 0) ::_exit(126);
  if (o.cwd_fd >= 0) {
    if (::dup2(o.cwd_fd, 100 + n) < 0 || ::fchdir(100 + n) != 0) ::_exit(126);
  }
  ::close_range(3 + n, ~0U, 0);
  if (o.uid && ::geteuid() == 0) {
    gid_t g = static_cast<gid_t>(*o.uid);
    if (::setgroups(0, nullptr) != 0 || ::setresgid(g, g, g) != 0 || ::setresuid(*o.uid, *o.uid, *o.uid) != 0)
      ::_exit(126);
  }
  ::execve(exe.c_str(), argv, envp);
  ::_exit(127);
}

}  // namespace

Result<ToolResult> run_tool(const std::vector<std::string>& args, const ToolOptions& o) {
  if (args.empty()) return internal("run_tool: no program");
  std::string exe = find_program(args[0]);
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (auto& e : o.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  Pipe out, err;
  int p1[2], p2[2];
  if (::pipe2(p1, O_CLOEXEC) != 0) return internal(std::string("pipe: ") + std::strerror(errno));
  out.r = p1[0], out.w = p1[1];
  if (::pipe2(p2, O_CLOEXEC) != 0) return internal(std::string("pipe: ") + std::strerror(errno));
  err.r = p2[0], err.w = p2[1];
  pid_t pid = ::fork();
  if (pid < 0) return internal(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) child(exe, argv.data(), envp.data(), o, out.w, err.w);
  ::close(out.w), out.w = -1;
  ::close(err.w), err.w = -1;

  ToolResult res;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(o.timeout_ms);
  bool out_open = true, err_open = true, overflow = false;
  char buf[65536];
  while (out_open || err_open) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      res.timed_out = true;
      ::kill(pid, SIGKILL);
      break;
    }
    pollfd fds[2] = {{out_open ? out.r : -1, POLLIN, 0}, {err_open ? err.r : -1, POLLIN, 0}};
    int n = ::poll(fds, 2, static_cast<int>(std::min<long long>(left.count(), 60'000)));
    if (n < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
      if (got <= 0) {
        (i == 0 ? out_open : err_open) = false;
        continue;
      }
      std::string& into = i == 0 ? res.out : res.err;
      std::size_t cap = i == 0 ? o.max_output : 64 << 10;
      if (into.size() + got <= cap) into.append(buf, got);
      else if (i == 0) overflow = true;
    }
    if (overflow) {
      ::kill(pid, SIGKILL);
      break;
    }
  }
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
  res.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
  if (overflow) return fail(ErrorCode::kInvalidArgument, "tool-output", args[0] + " wrote more than allowed");
  return res;
}

}  // namespace atrium::images
