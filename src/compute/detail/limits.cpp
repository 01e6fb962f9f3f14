// Start-time limits: running jobs and CPUs per user, org, group and QoS, array task caps, and the
// CPU-hours quotas of the period.
#include <fmt/format.h>

#include "compute/detail/scheduling.hpp"

namespace atrium::compute::detail {

LimitCheck check_running_limits(const ClusterState& st, const Job& job, const QosLookup& q, const Running& r,
                                Millis now) {
  const ResourceRequest& req = job.request;
  if (job.array && job.array->max_concurrent > 0) {
    auto ai = r.array.find(job.array->array_id);
    std::uint32_t n = ai == r.array.end() ? 0 : ai->second;
    if (n >= job.array->max_concurrent) {
      return {PendingReason::kJobArrayTaskLimit, fmt::format("array {} already runs {} of at most {} tasks",
                                                             job.array->array_id, n, job.array->max_concurrent)};
    }
  }
  // `kind` + `name` say whose limit it is ("user alice", "org lab"); formatted only when one is hit.
  auto check = [&](const Limits& l, const Counts& c, PendingReason jobs_reason, PendingReason cpu_reason,
                   std::string_view kind, const std::string& name) -> LimitCheck {
    if (l.max_running_jobs && c.jobs + 1 > *l.max_running_jobs) {
      return {jobs_reason, fmt::format("{} {} runs {} jobs; the limit is {}", kind, name, c.jobs, *l.max_running_jobs)};
    }
    if (l.max_running_cpus && c.cpus + req.cpus > *l.max_running_cpus) {
      return {cpu_reason, fmt::format("{} {} runs jobs on {} CPUs; this job needs {} more; the limit is {}", kind, name,
                                      c.cpus, req.cpus, *l.max_running_cpus)};
    }
    return {};
  };
  // CPU-hours quotas: what the ledger holds + what running jobs may still use + this job's worst case.
  auto quota = [&](const Limits& l, const UsageTotals& totals, const Counts& c, std::string_view kind,
                   const std::string& name) -> LimitCheck {
    double need = req.cpus * static_cast<double>(req.time_limit) / 1000.0;
    double used = totals.allocated_cpu_seconds;
    double max = *l.max_cpu_hours * 3600.0;
    double total = used + c.committed_cpu_seconds + need;
    if (total <= max) return {};
    return {PendingReason::kQuotaExceeded,
            fmt::format("{} {}: {:.2f} CPU-hours used and {:.2f} committed to running jobs this period; this job "
                        "needs up to {:.2f}; the limit {:.2f} would be exceeded by {:.2f}",
                        kind, name, used / 3600.0, c.committed_cpu_seconds / 3600.0, need / 3600.0, *l.max_cpu_hours,
                        (total - max) / 3600.0)};
  };

  // Counts are looked up only for limits that exist: most users of a long queue have none.
  static const Counts kZeroCounts{};
  auto has_any = [](const Limits& l) {
    return l.max_running_jobs || l.max_running_cpus || l.max_cpu_hours;
  };
  const Limits& ul = user_limits(st.policy, job.assoc.user);
  const bool user_limited = has_any(ul);
  const Counts& uc = user_limited ? Running::count(r.user, job.assoc.user) : kZeroCounts;
  LimitCheck lc;
  if (user_limited) {
    lc = check(ul, uc, PendingReason::kAssocMaxJobsLimit, PendingReason::kAssocMaxCpuLimit, "user", job.assoc.user);
    if (lc.reason != PendingReason::kNone) return lc;
  }
  const Limits* ol = org_limits(st.policy, job.assoc.org);
  const Counts& oc = ol ? Running::count(r.org, job.assoc.org) : kZeroCounts;
  if (ol) {
    lc = check(*ol, oc, PendingReason::kAssocGrpJobsLimit, PendingReason::kAssocGrpCpuLimit, "org", job.assoc.org);
    if (lc.reason != PendingReason::kNone) return lc;
  }
  const Limits* gl = group_limits(st.policy, job.assoc.group);
  const Counts& gc = gl ? Running::count(r.group, job.assoc.group) : kZeroCounts;
  if (gl) {
    lc = check(*gl, gc, PendingReason::kAssocGrpJobsLimit, PendingReason::kAssocGrpCpuLimit, "group", job.assoc.group);
    if (lc.reason != PendingReason::kNone) return lc;
  }
  if (q.qos && (q.qos->max_jobs_per_user || q.qos->max_cpus_per_user)) {
    const Counts* cp = &kZeroCounts;
    if (auto qi = r.qos_user.find(q.name); qi != r.qos_user.end()) {
      if (auto ui = qi->second.find(job.assoc.user); ui != qi->second.end()) cp = &ui->second;
    }
    const Counts& c = *cp;
    if (q.qos->max_jobs_per_user && c.jobs + 1 > *q.qos->max_jobs_per_user) {
      return {PendingReason::kQosMaxJobsPerUserLimit,
              fmt::format("QoS {}: user {} runs {} jobs; the limit is {}", q.name, job.assoc.user, c.jobs,
                          *q.qos->max_jobs_per_user)};
    }
    if (q.qos->max_cpus_per_user && c.cpus + req.cpus > *q.qos->max_cpus_per_user) {
      return {PendingReason::kQosMaxCpuPerUserLimit,
              fmt::format("QoS {}: user {} runs jobs on {} CPUs; this job needs {} more; the limit is {}", q.name,
                          job.assoc.user, c.cpus, req.cpus, *q.qos->max_cpus_per_user)};
    }
  }
  if (ul.max_cpu_hours) {
    lc = quota(ul, st.ledger.user(job.assoc.user, now), uc, "user", job.assoc.user);
    if (lc.reason != PendingReason::kNone) return lc;
  }
  if (ol && ol->max_cpu_hours) {
    lc = quota(*ol, st.ledger.org(job.assoc.org, now), oc, "org", job.assoc.org);
    if (lc.reason != PendingReason::kNone) return lc;
  }
  if (gl && gl->max_cpu_hours) {
    lc = quota(*gl, st.ledger.group(job.assoc.org, job.assoc.group, now), gc, "group", job.assoc.group);
    if (lc.reason != PendingReason::kNone) return lc;
  }
  return {};
}

}  // namespace atrium::compute::detail
