// Usage accounting for compute quotas: per-job CPU-seconds, wall time and peak memory, summed per
// user, group and org over a quota period, and the limits (running jobs/CPUs, CPU-hours) checked against them.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "compute/job.hpp"
#include "core/clock.hpp"

namespace atrium::compute {

// What the executor measured for one finished job.
struct JobUsage {
  double cpu_seconds = 0;        // CPU time actually used (cgroup cpu.stat)
  std::int64_t peak_mem_mb = 0;  // peak resident memory (cgroup memory.peak)
};

struct UsageTotals {
  std::int64_t jobs = 0;
  double cpu_seconds = 0;            // measured
  double allocated_cpu_seconds = 0;  // allocated CPUs x wall time: what quotas count (like SLURM's GrpTRESMins)
  double wall_seconds = 0;
  std::int64_t peak_mem_mb = 0;  // the largest peak of any job

  double allocated_cpu_hours() const { return allocated_cpu_seconds / 3600.0; }
};

// Totals of the current quota period. Periods are fixed windows [k*period, (k+1)*period) since
// the epoch; a read in a later period sees zeros, an add there starts the new period.
class UsageLedger {
 public:
  explicit UsageLedger(Millis period = 30LL * 24 * 3600 * 1000) : period_(period) {}

  Millis period() const { return period_; }
  Millis period_start() const { return period_start_; }
  Millis period_start_for(Millis t) const;

  // Records a job that ended at `end` after `wall` milliseconds on `alloc_cpus` CPUs. Jobs ending in
  // an earlier period than the ledger's are ignored (they belong to a closed period).
  void add(const Association& assoc, int alloc_cpus, Millis wall, const JobUsage& usage, Millis end);

  UsageTotals user(const std::string& user, Millis now) const;
  UsageTotals group(const std::string& org, const std::string& group, Millis now) const;
  UsageTotals org(const std::string& org, Millis now) const;

  // For persistence: the raw maps of the current period.
  const std::map<std::string, UsageTotals>& users() const { return users_; }
  const std::map<std::pair<std::string, std::string>, UsageTotals>& groups() const { return groups_; }
  const std::map<std::string, UsageTotals>& orgs() const { return orgs_; }

 private:
  Millis period_;
  Millis period_start_ = 0;
  std::map<std::string, UsageTotals> users_;
  std::map<std::pair<std::string, std::string>, UsageTotals> groups_;
  std::map<std::string, UsageTotals> orgs_;
};

// Limits of one user or org; nullopt = unlimited.
struct Limits {
  std::optional<int> max_running_jobs;    // start time: AssocMaxJobsLimit / AssocGrpJobsLimit
  std::optional<int> max_running_cpus;    // start time: AssocMaxCpuLimit / AssocGrpCpuLimit
  std::optional<int> max_submitted_jobs;  // submit time (pending + running): quota_exceeded error
  std::optional<double> max_cpu_hours;    // per quota period, allocated CPU-hours: submit error
                                          // when used up, PENDING QuotaExceeded when a start would pass it
};

}  // namespace atrium::compute
