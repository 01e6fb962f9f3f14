#include "jobs/config.hpp"

#include <cctype>

namespace atrium::jobs {
namespace {

Status check(Config& c) {
  for (char ch : c.cgroup_parent)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '_' && ch != '/')
      return invalid("compute.cgroup_parent: only letters, digits, - _ / are allowed");
  if (c.cgroup_parent.empty() || c.cgroup_parent.find("..") != std::string::npos)
    return invalid("compute.cgroup_parent must be a relative path without ..");
  if (c.default_partition.empty()) return invalid("compute.default_partition must name a partition (\"local\")");
  return config::check_cidrs("compute.outbound_allow", c.outbound_allow);
}

}  // namespace

void declare(config::Registry& r, Config& c) {
  r.section("compute", c)
      .integer("cpus", "schedulable CPUs of this node (0 = all online)", &Config::cpus, 0, 4096)
      .integer("mem_mb", "schedulable memory in MB (0 = physical minus 10%)", &Config::mem_mb, 0,
               std::int64_t{1} << 32)
      .integer("gpus", "GPUs (-1 = discover, 0 = none)", &Config::gpus, -1, 64)
      .integer("uid_base", "first host uid for Atrium users' jobs", &Config::uid_base, 1000, std::int64_t{4000000000})
      .integer("fairshare_half_life_h", "fair-share usage half-life in hours (0 = none)",
               &Config::fairshare_half_life_h, 0, 24 * 365)
      .integer("max_output_bytes", "job stdout/stderr cap per stream", &Config::max_output_bytes, 1024,
               std::int64_t{1} << 40)
      .integer("kill_grace_s", "seconds between SIGTERM and SIGKILL", &Config::kill_grace_s, 0, 3600)
      .string("cgroup_parent", "cgroup directory (per hierarchy) for job cgroups", &Config::cgroup_parent)
      .integer("max_time_h", "longest job time limit in hours", &Config::max_time_h, 1, 24 * 365)
      .string("outbound_allow",
              "CIDRs \"outbound\" environments may reach although private, link-local or the host's own "
              "(comma-separated)",
              &Config::outbound_allow)
      .string("default_partition",
              "partition of a job or environment that names none and whose org has no default (\"local\" = this "
              "server)",
              &Config::default_partition)
      .check(check);
}

}  // namespace atrium::jobs
