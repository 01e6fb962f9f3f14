// Removing what a dead supervisor left behind: the job's processes (if any survived) and its
// cgroup directories in every hierarchy.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <set>
#include <string>
#include <thread>

#include "sandbox/detail/cgroup.hpp"
#include "sandbox/sandbox.hpp"

namespace atrium::sandbox {
namespace {

void kill_members(const std::string& dir) {
  if (std::ofstream kill(dir + "/cgroup.kill"); kill) kill << "1";
  std::ifstream procs(dir + "/cgroup.procs");
  for (int pid; procs >> pid;)
    if (pid > 1) ::kill(pid, SIGKILL);
}

}  // namespace

int cleanup(const std::string& id, const std::string& cgroup_parent) {
  const auto& layout = detail::cgroup_layout();
  std::set<std::string> dirs;
  for (const auto& [controller, mount] : layout.v1) dirs.insert(mount + "/" + cgroup_parent + "/" + id);
  if (!layout.unified.empty()) dirs.insert(layout.unified + "/" + cgroup_parent + "/" + id);
  if (!layout.v2_base.empty()) dirs.insert(layout.v2_base + "/" + cgroup_parent + "/" + id);
  int removed = 0;
  for (const auto& dir : dirs) {
    if (::access(dir.c_str(), F_OK) != 0) continue;
    for (int i = 0; i < 250; ++i) {
      kill_members(dir);
      if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) {
        ++removed;
        break;
      }
      if (errno != EBUSY) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(4));
    }
  }
  return removed;
}

}  // namespace atrium::sandbox
