// The [compute] section: the embedded executor on this node (app/ turns it into jobs::Settings).
#pragma once

#include <cstdint>
#include <string>

#include "core/config.hpp"

namespace atrium::jobs {

struct Config {
  int cpus = 0;                      // schedulable CPUs; 0 = all online CPUs
  std::int64_t mem_mb = 0;           // schedulable memory; 0 = physical memory minus 10% (at least 512 MB)
  int gpus = -1;                     // -1 = discover (NVML, /dev/nvidiaN), 0 = none
  std::int64_t uid_base = 2000000;   // Atrium user n runs jobs as host uid uid_base + n
  int fairshare_half_life_h = 168;   // fair-share usage decay half-life; 0 = no decay
  std::int64_t max_output_bytes = 64LL << 20;  // per job and stream (stdout, stderr)
  int kill_grace_s = 10;             // SIGTERM -> SIGKILL on cancel and time limit
  std::string cgroup_parent = "atrium";  // job cgroups: <hierarchy>/<parent>/<job id>
  std::int64_t max_time_h = 24 * 30;     // longest --time
  // What "outbound" environments may reach although it is private, link-local or the host's own
  // ("10.1.2.0/24,fd00:1::/64"); "" = only public addresses.
  std::string outbound_allow;
  // The partition a job or environment goes to when neither it nor its org names one ("local":
  // this server; else one of [compute.partitions.NAME], see src/slurm/config.hpp).
  std::string default_partition = "local";
};

void declare(config::Registry& r, Config& c);

}  // namespace atrium::jobs
