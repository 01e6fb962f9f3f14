// The sandbox launcher: runs one command in fresh namespaces (user, mount, pid, net, ipc, uts,
// cgroup) on a read-only root with the workspace read-write at /workspace, as an unprivileged uid,
// with no capabilities, no_new_privs and a seccomp allow-list, under resource limits (cgroup v2,
// cgroup v1, or rlimits as a last resort). Used by jobs now and by environments later.
//
// Two ways in:
//   * run(spec, ...)        blocking, in the calling process (the supervisor: `atrium exec`).
//   * `atrium exec --spec FILE [--state-dir DIR]`  the same as a separate process: what the
//     server launches per job (so jobs outlive a server crash) and what the SLURM backend will
//     call on a node.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/clock.hpp"
#include "core/error.hpp"

namespace atrium::sandbox {

struct BindMount {
  std::string source;  // host path (must exist)
  std::string target;  // absolute path inside the sandbox, e.g. /data/genomes
  bool writable = false;
};

struct Limits {
  std::optional<std::int64_t> memory_bytes;  // OOM -> outcome "oom"
  std::optional<double> cpus;                // CPU bandwidth (CFS quota / cpu.max), e.g. 1.5
  std::optional<int> pids;                   // processes + threads (fork bombs)
  std::optional<Millis> wall_ms;             // SIGTERM, then SIGKILL after kill_grace_ms -> "timeout"
  Millis kill_grace_ms = 10'000;
  std::optional<std::int64_t> output_bytes;  // per stream; beyond it output is discarded (truncated=true)
};

struct Spec {
  std::string id;                 // [A-Za-z0-9_-]{1,64}; names the cgroup
  std::vector<std::string> argv;  // argv[0] is looked up in the sandbox's PATH
  std::map<std::string, std::string> env;  // the whole environment (plus PATH/HOME/… defaults if absent)
  std::string workspace;          // host directory, bound read-write at /workspace (the cwd)
  std::vector<BindMount> mounts;  // extra binds (datasets read-only at /data/<name>, ...)
  std::string rootfs;             // "" = host /usr, /etc, /bin, /lib... read-only; else an image root directory
  bool rootfs_writable = false;   // the rootfs entries bound read-write (nosuid, nodev): image builds only
  bool root_inside = false;       // the job is uid/gid 0 inside, mapped to `uid`/`gid` (or the caller) outside;
                                  //   still no capabilities, no_new_privs, seccomp (image builds: apt, dpkg)
  std::optional<std::uint32_t> uid;  // host uid/gid the job runs as (when the launcher is root);
  std::optional<std::uint32_t> gid;  //   ignored (caller's own uid) when unprivileged
  bool network = false;           // false: own network namespace with only lo (up)
  std::vector<int> gpus;          // GPU indices: only those /dev/nvidiaN exposed, CUDA_VISIBLE_DEVICES set
  std::string hostname = "job";
  std::string cwd = "/workspace";  // the working directory inside the sandbox (absolute)
  Limits limits;
  std::string stdout_path;        // host files (created 0640, appended); "" = discard
  std::string stderr_path;
  std::string cgroup_parent = "atrium";  // job cgroups live in <hierarchy>/<parent>/<id>
  // Secrets as files: NAME -> content at /run/secrets/NAME (0400, the job's uid) on a tmpfs of the
  // sandbox's own, read-only once written. Never in to_json/spec_from_json: a spec file on disk
  // holds no secret; `atrium exec --secrets -` reads them (and secret variables) from a pipe.
  std::map<std::string, std::string> secret_files;
};

// What `atrium exec --secrets FILE|-` reads: {"env": {NAME: value}, "files": {NAME: content}},
// added to the spec's env (a name it already has is refused) and secret_files.
Status add_secrets(Spec& spec, const nlohmann::json& j);

Result<Spec> spec_from_json(const nlohmann::json& j);  // invalid_argument naming the field
nlohmann::json to_json(const Spec& s);
// The checks spec_from_json applies, for a Spec built in code (run() calls it too).
Status validate(const Spec& s);

// What the host can do, detected at run time (/proc/self/mountinfo, /proc/self/cgroup, euid...).
struct Capabilities {
  bool root = false;            // euid 0 with CAP_SYS_ADMIN: per-user uids, cgroups
  bool user_namespaces = false;
  std::string cgroup_mode;      // "v2", "v1", "none"
  bool cgroup_kill = false;     // a unified tree with cgroup.kill (also in hybrid mode)
  bool seccomp = false;
  std::vector<std::string> gpu_devices;  // /dev/nvidia0, ... found (or from NVML)
  bool nvml = false;            // libnvidia-ml.so.1 could be loaded (dlopen) and initialised
  // The controllers job cgroups get in cgroup_mode ("memory", "pids", "cpu", "cpuacct", "devices"...).
  std::vector<std::string> cgroup_controllers;
};
const Capabilities& probe();  // cached after the first call
nlohmann::json to_json(const Capabilities& c);

struct Outcome {
  // "exited", "signaled", "timeout", "oom", "cancelled" (stop requested), "setup_failed"
  std::string kind = "exited";
  int exit_code = 0;  // exited: the status; signaled: 128 + signal
  int signal = 0;
  double cpu_seconds = 0;
  std::int64_t peak_memory_bytes = 0;
  Millis wall_ms = 0;
  Millis started_ms = 0;  // wall-clock
  Millis ended_ms = 0;
  bool stdout_truncated = false;
  bool stderr_truncated = false;
  // Limits actually enforced and how: {"memory": "cgroup-v1", "pids": "cgroup-v1", "cpu": "cgroup-v1",
  // "wall": "timer", "output": "cap", "network": "netns", "seccomp": "allow-list", "uid": "per-user"...}.
  // A limit that was asked for but could not be enforced is absent (and named in `detail`).
  std::map<std::string, std::string> enforced;
  std::string detail;  // setup_failed: what failed; otherwise notes
};
nlohmann::json to_json(const Outcome& o);
Result<Outcome> outcome_from_json(const nlohmann::json& j);
// The exit status `atrium exec` reports for an outcome: the job's own code when it exited,
// 128 + signal when signaled, 124 timeout (like timeout(1)), 137 oom, 143 cancelled, 125 setup_failed.
int exit_status(const Outcome& o);

struct RunHooks {
  // Called once the job's process runs (host pid of the sandbox's init).
  std::function<void(int pid)> on_started;
};

// Runs the spec to completion in this process (blocks). A SIGTERM/SIGINT to this process stops the
// job (SIGTERM to it, kill_grace_ms, then kill the whole cgroup) -> "cancelled". The cgroup is
// removed afterwards; no process of the job survives run().
Result<Outcome> run(const Spec& spec, const RunHooks& hooks = {});

// After a supervisor died without cleaning up (kill -9, a crash): kills whatever is left in the
// job's cgroups and removes their directories. Returns how many directories it removed.
int cleanup(const std::string& id, const std::string& cgroup_parent);

// ---- Egress of a sandbox network namespace given outbound access (slirp4netns, envs "outbound").
// Policy-routing rules ("prohibit": connect() and sendto() fail at once with EACCES, nothing leaves
// the namespace) for link-local, private and shared ranges and the host's own addresses, except
// what `allow` names. Root installs them in the sandbox's namespace (`ip -batch`) before slirp4netns
// adds its tap0: the job, without CAP_NET_ADMIN there, cannot remove them.
struct EgressRules {
  std::string v4, v6;  // `ip -4 -batch` / `ip -6 -batch` input
};
// "10.1.2.0/24, fd00:1::/64, 192.0.2.7" -> canonical CIDRs (host bits cleared); invalid_argument
// naming the bad item.
Result<std::vector<std::string>> parse_cidrs(std::string_view text);
// `allow` and `host_addresses` must be valid CIDRs or addresses (parse_cidrs). `nameservers` (the
// sandbox reads the host's resolv.conf) stay reachable on port 53 (UDP and TCP) only.
Result<EgressRules> egress_rules(const std::vector<std::string>& allow, const std::vector<std::string>& host_addresses,
                                 const std::vector<std::string>& nameservers = {});
// This host's own addresses (getifaddrs), loopback excepted.
std::vector<std::string> host_addresses();
// The `nameserver` addresses of a resolv.conf.
std::vector<std::string> host_nameservers(const std::string& resolv_conf = "/etc/resolv.conf");

}  // namespace atrium::sandbox
