// Removing what a dead supervisor left behind: the job's processes (if any survived) and its
// cgroup directories in every hierarchy. Runs in the server (on the worker pool): it waits for
// the killed processes on their pidfds (and, on cgroup v2, for cgroup.events to say the cgroup
// is empty), never by sleeping.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "core/io_thread.hpp"
#include "sandbox/detail/cgroup.hpp"
#include "sandbox/sandbox.hpp"

namespace atrium::sandbox {
namespace {

// How long one directory may take to empty before cleanup gives up on it.
constexpr Millis kEmptyWait = 1'000;
// Retries when the kernel still holds an empty cgroup and nothing can be waited on (cgroup v1).
constexpr int kBusyRetries = 50;

// SIGKILL to every member (cgroup.kill where there is one); returns a pidfd per member, readable
// once it has exited.
std::vector<int> kill_members(const std::string& dir) {
  if (std::ofstream kill(dir + "/cgroup.kill"); kill) kill << "1";
  std::vector<int> fds;
  std::ifstream procs(dir + "/cgroup.procs");
  for (int pid; procs >> pid;) {
    if (pid <= 1) continue;
    int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (fd < 0) continue;  // gone already
    ::syscall(SYS_pidfd_send_signal, fd, SIGKILL, nullptr, 0);
    fds.push_back(fd);
  }
  return fds;
}

// Waits up to `ms` for one of: a member exits, cgroup.events changes (v2). False: nothing to
// wait on.
bool wait_for_change(const std::string& dir, const std::vector<int>& pidfds, Millis ms) {
  std::vector<pollfd> set;
  for (int fd : pidfds) set.push_back({fd, POLLIN, 0});
  int events = ::open((dir + "/cgroup.events").c_str(), O_RDONLY | O_CLOEXEC);
  if (events >= 0) {
    char buf[256];
    (void)::read(events, buf, sizeof buf);  // armed: a change from here on wakes the poll
    set.push_back({events, POLLPRI, 0});
  }
  bool waited = !set.empty();
  if (waited) ::poll(set.data(), set.size(), static_cast<int>(ms));
  if (events >= 0) ::close(events);
  return waited;
}

bool remove_cgroup(const std::string& dir) {
  Stopwatch elapsed;
  for (int idle = 0;;) {
    std::vector<int> pidfds = kill_members(dir);
    bool gone = ::rmdir(dir.c_str()) == 0 || errno == ENOENT;
    bool busy = !gone && errno == EBUSY;
    Millis left = kEmptyWait - elapsed.millis();
    bool again = busy && left > 0 && (wait_for_change(dir, pidfds, left) || ++idle < kBusyRetries);
    for (int fd : pidfds) ::close(fd);
    if (!again) return gone;
  }
}

}  // namespace

int cleanup(const std::string& id, const std::string& cgroup_parent) {
  expect_blocking_allowed("sandbox::cleanup");
  const auto& layout = detail::cgroup_layout();
  std::set<std::string> dirs;
  for (const auto& [controller, mount] : layout.v1) dirs.insert(mount + "/" + cgroup_parent + "/" + id);
  if (!layout.unified.empty()) dirs.insert(layout.unified + "/" + cgroup_parent + "/" + id);
  if (!layout.v2_base.empty()) dirs.insert(layout.v2_base + "/" + cgroup_parent + "/" + id);
  int removed = 0;
  for (const auto& dir : dirs) {
    if (::access(dir.c_str(), F_OK) != 0) continue;
    if (remove_cgroup(dir)) ++removed;
  }
  return removed;
}

}  // namespace atrium::sandbox
