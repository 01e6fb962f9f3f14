// Pure translations between Atrium and SLURM (no I/O): states, the batch script, arrays,
// dependencies, paths as the nodes see them. Unit-tested in translate_test.cpp.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "compute/job.hpp"
#include "jobs/remote.hpp"
#include "slurm/rest.hpp"

namespace atrium::slurm {

// SLURM's base state -> Atrium's (nullopt: a state Atrium does not act on, e.g. SUSPENDED is RUNNING).
std::optional<compute::JobState> map_state(std::string_view slurm_state);
// What the tracker tells jobs about one SLURM job (nullopt: an unknown state, ignored).
// PREEMPTED, BOOT_FAIL and DEADLINE keep SLURM's name in the reason.
std::optional<jobs::Observation> observation_of(const JobInfo& j);
// Whether SLURM may still run it (PENDING, RUNNING, SUSPENDED, ... anything not ended).
bool slurm_active(std::string_view slurm_state);

// One Atrium job (or array task) in a batch script.
struct ScriptTask {
  std::optional<std::uint32_t> index;  // the array task index (nullopt: a single job)
  std::string job_id;
  std::string run_dir;                 // as the nodes see it
  std::vector<std::string> exec_args;  // after the binary, as the nodes see them
  bool wants_secrets = false;
  std::string tunnel_socket;           // an environment's app socket ("" = none)
};

// The script SLURM runs (constant shape; no secret in it, every path and argument quoted):
//   #!/bin/sh
//   A='<atrium>'
//   [arrays: case "$SLURM_ARRAY_TASK_ID" in N) ... ;; esac]
//   [env]     "$A" tunnel --server URL --token-file RUN/exec.token --job ID --socket SOCK &
//   [secrets] "$A" exec-secrets --server URL --token-file RUN/exec.token --job ID | "$A" exec ARGS --secrets -
//   [else]    exec "$A" exec ARGS
// Output of the script itself (not the job's) goes to RUN/slurm.out.
std::string batch_script(const std::string& atrium_path, const std::string& server_url,
                         const std::vector<ScriptTask>& tasks);
// A POSIX shell word: 'text' with ' as '\''.
std::string shell_quote(std::string_view s);

// sbatch --array text for these task indexes ("0-3,7" plus "%N" when max_concurrent > 0).
std::string array_spec(const std::set<std::uint32_t>& indexes, std::uint32_t max_concurrent);
// The task indexes in SLURM's array_task_string ("3-9%2", "1,4-6": the pending rest of an array).
std::set<std::uint32_t> parse_task_string(std::string_view s);

// The time limit SLURM gets: the job's, plus the kill grace, plus a minute (atrium exec's own
// TIMEOUT fires first), rounded up to minutes; at most the partition's MaxTime (`max_min`, 0 =
// none), which a job within the partition's limits never exceeds itself: above it SLURM would
// keep the job PENDING (PartitionConfig) for ever.
std::int64_t time_limit_minutes(Millis job_limit, Millis kill_grace, std::int64_t max_min = 0);

// A path under `from` rewritten under `to` (unchanged when it is not under `from`).
std::string rebase_path(const std::string& path, const std::string& from, const std::string& to);

// "atrium:<key>" or "atrium:<key>#<generation>" -> key ("" when not Atrium's comment).
std::string key_of_comment(std::string_view comment);

}  // namespace atrium::slurm
