// probe(): what this host lets the launcher do, detected once at run time.
#include <sys/prctl.h>
#include <sys/wait.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <string>

#include "sandbox/detail/cgroup.hpp"
#include "sandbox/detail/gpu.hpp"
#include "sandbox/detail/sys.hpp"
#include "sandbox/sandbox.hpp"

namespace atrium::sandbox {

namespace {

bool has_cap_sys_admin() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("CapEff:", 0) == 0) {
      unsigned long long caps = std::stoull(line.substr(7), nullptr, 16);
      return (caps >> 21) & 1;  // CAP_SYS_ADMIN
    }
  }
  return false;
}

// The real test (sysctls differ by distribution): a child tries to unshare a user namespace.
bool can_unshare_user() {
  pid_t pid = ::fork();
  if (pid < 0) return false;
  if (pid == 0) _exit(::unshare(CLONE_NEWUSER) == 0 ? 0 : 1);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// What run() needs, without the GPU scan and the NVML load. Root may create user namespaces
// whenever the count allows it; anyone else is tested for real.
Capabilities detect_basic() {
  Capabilities c;
  c.root = ::geteuid() == 0 && has_cap_sys_admin();
  if (c.root) {
    auto max = detail::read_int("/proc/sys/user/max_user_namespaces");
    c.user_namespaces = max && *max > 0;
  } else {
    c.user_namespaces = can_unshare_user();
  }
  c.seccomp = ::prctl(PR_GET_SECCOMP, 0, 0, 0, 0) >= 0 && detail::path_exists("/proc/sys/kernel/seccomp/actions_avail");
  return c;
}

Capabilities detect() {
  Capabilities c = detail::launch_capabilities();
  const auto& layout = detail::cgroup_layout();
  c.cgroup_mode = layout.mode;
  c.cgroup_controllers = layout.controllers();
  c.cgroup_kill = layout.cgroup_kill && (layout.mode == "v2" || layout.unified_writable);
  for (int m : detail::gpu_minors()) c.gpu_devices.push_back("/dev/nvidia" + std::to_string(m));
  c.nvml = detail::nvml_available();
  return c;
}

}  // namespace

namespace detail {
const Capabilities& launch_capabilities() {
  static const Capabilities caps = detect_basic();
  return caps;
}
}  // namespace detail

const Capabilities& probe() {
  static const Capabilities caps = detect();
  return caps;
}

}  // namespace atrium::sandbox
