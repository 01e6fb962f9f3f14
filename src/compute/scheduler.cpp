#include "compute/scheduler.hpp"

#include <cmath>

#include <fmt/format.h>

#include "compute/detail/scheduling.hpp"

namespace atrium::compute {

namespace detail {

std::string gpu_list(const std::vector<int>& gpus) {
  std::string out = "[";
  for (std::size_t i = 0; i < gpus.size(); ++i) out += (i ? "," : "") + std::to_string(gpus[i]);
  return out + "]";
}

FreeResources free_now(const ClusterState& st, const std::vector<const Job*>& running) {
  FreeResources f{st.node.cpus, st.node.mem_mb, all_gpus(st.node.gpus)};
  for (const Job* jp : running) {
    const Job& job = *jp;
    if (!job.allocation) continue;
    f.cpus -= job.allocation->cpus;
    f.mem_mb -= job.allocation->mem_mb;
    f.gpus &= ~job.allocation->gpu_mask();
  }
  return f;
}

}  // namespace detail

using namespace detail;

const PendingInfo* ScheduleResult::find_pending(std::string_view id) const {
  for (const auto& p : pending) {
    if (p.job == id) return &p;
  }
  return nullptr;
}

Result<Scheduler> Scheduler::create(SchedulerConfig config) {
  const PriorityWeights& w = config.weights;
  for (double v : {w.fair_share, w.age, w.job_size, w.qos}) {
    if (!(v >= 0) || !std::isfinite(v)) return invalid("compute: priority weights must be finite and >= 0");
  }
  const BillingWeights& b = config.billing;
  for (double v : {b.cpu, b.mem_gb, b.gpu}) {
    if (!(v >= 0) || !std::isfinite(v)) return invalid("compute: billing weights must be finite and >= 0");
  }
  if (config.max_age <= 0) return invalid("compute: max_age must be positive");
  if (config.usage_half_life < 0) return invalid("compute: usage_half_life must be >= 0 (0 = no decay)");
  if (config.reservation_depth < 1) return invalid("compute: reservation_depth must be at least 1");
  if (config.estimate_depth < 0) return invalid("compute: estimate_depth must be >= 0");
  if (config.kill_margin < 0) return invalid("compute: kill_margin must be >= 0");
  if (config.max_time_limit <= 0) return invalid("compute: max_time_limit must be positive");
  return Scheduler(std::move(config));
}

double Scheduler::billing_rate(const ResourceRequest& req) const {
  const BillingWeights& b = config_.billing;
  return b.cpu * req.cpus + b.mem_gb * static_cast<double>(req.mem_mb) / 1024.0 + b.gpu * req.gpus;
}

void Scheduler::charge(FairShareUsage& usage, const Job& finished) const {
  if (!finished.start_time || !finished.end_time) return;
  double secs = static_cast<double>(std::max<Millis>(*finished.end_time - *finished.start_time, 0)) / 1000.0;
  usage.by_association[finished.assoc].add(billing_rate(finished.request) * secs, *finished.end_time,
                                           config_.usage_half_life);
}

Result<JobExplanation> Scheduler::explain(const ClusterState& state, std::string_view id, Millis now) const {
  auto it = state.jobs.find(std::string(id));
  if (it == state.jobs.end()) return not_found(fmt::format("job {}", id));
  const Job& job = it->second;
  JobExplanation x;
  x.job = job.id;
  x.state = job.state;
  x.reason = job.reason;
  x.detail = job.reason_detail;
  x.priority.priority = job.priority;
  if (job.state == JobState::kRunning) {
    if (job.start_time) x.expected_end = *job.start_time + job.request.time_limit;
    x.detail = fmt::format("running since {} on {}", job.start_time ? when(*job.start_time) : "?",
                           job.allocation ? fmt::format("{} CPUs, {} MB, GPUs {}", job.allocation->cpus,
                                                        job.allocation->mem_mb, gpu_list(job.allocation->gpus))
                                          : std::string("?"));
    return x;
  }
  if (job.state != JobState::kPending) return x;
  ScheduleResult r = schedule(state, now);
  for (const auto& s : r.starts) {
    if (s.job == job.id) {
      x.reason = PendingReason::kNone;
      x.estimated_start = now;
      x.detail = "starts at the next scheduling pass";
      for (auto& [pid, f] : priorities(state, now)) {
        if (pid == job.id) x.priority = f;
      }
      return x;
    }
  }
  for (const auto& c : r.cancels) {
    if (c.job == job.id) {
      x.reason = c.reason;
      x.detail = c.cause;
      return x;
    }
  }
  if (const PendingInfo* p = r.find_pending(job.id)) {
    x.reason = p->reason;
    x.detail = p->text();
    x.estimated_start = p->estimated_start;
    x.priority = p->priority;
  }
  return x;
}

}  // namespace atrium::compute
