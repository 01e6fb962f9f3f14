// The scheduler's mutators: submission (with its checks and quotas), applying a pass, ends,
// cancel, hold, release, requeue; and pruning finished jobs.
#include <fmt/format.h>

#include "compute/detail/scheduling.hpp"

namespace atrium::compute {
namespace {

using namespace detail;

// Names the quota's subject (org_id, kind, subject_id): the refusal's audit event is the org's.
std::unexpected<Error> quota_error(std::string detail, std::string_view limit, double max, double used,
                                   double requested, const Job& job, std::string_view kind, const std::string& id) {
  return fail(Error(ErrorCode::kQuotaExceeded, "quota-exceeded", std::move(detail))
                  .with("limit", std::string(limit))
                  .with("org_id", job.assoc.org)
                  .with("kind", std::string(kind))
                  .with("subject_id", id)
                  .with("max", max)
                  .with("used", used)
                  .with("requested", requested));
}

}  // namespace

Status Scheduler::check_submission(const ClusterState& st, std::span<const Job> jobs, Millis now) const {
  TRY_STATUS(validate_node(st.node));
  std::set<JobId> new_ids;
  std::map<std::string, int> per_user, per_org, per_group;
  DependencyResolver deps(st, now);
  for (const Job& job : jobs) {
    if (job.id.empty()) return invalid("job id is empty");
    if (st.jobs.contains(job.id) || !new_ids.insert(job.id).second) {
      return fail(ErrorCode::kAlreadyExists, "already-exists", fmt::format("job {} already exists", job.id));
    }
    if (job.assoc.user.empty() || job.assoc.org.empty()) return invalid("job must name an org and a user");
    TRY_STATUS(validate_request(job.request, st.node));
    if (job.request.time_limit > config_.max_time_limit) {
      return invalid(fmt::format("time limit {} exceeds the maximum {}", format_duration(job.request.time_limit),
                                 format_duration(config_.max_time_limit)));
    }
    QosLookup q = find_qos(st.policy, job);
    if (!q.ok) return invalid(fmt::format("QoS \"{}\" does not exist", q.name));
    if (q.qos && q.qos->max_wall && job.request.time_limit > *q.qos->max_wall) {
      return invalid(fmt::format("time limit {} exceeds QoS {}'s maximum {}", format_duration(job.request.time_limit),
                                 q.name, format_duration(*q.qos->max_wall)));
    }
    for (const Dependency& d : job.dependency.items) {
      if (d.type == DependencyType::kSingleton) continue;
      if (!deps.known(d.target)) {
        return fail(ErrorCode::kInvalidArgument, "invalid-dependency",
                    fmt::format("dependency names job {}, which does not exist", d.target));
      }
    }
    if (!job.dependency.empty()) {
      const DepEval& e = deps.evaluate(job);
      if (e.status == DepStatus::kNever) {
        return fail(ErrorCode::kInvalidArgument, "invalid-dependency",
                    "dependency can never be satisfied: " + e.detail);
      }
    }
    per_user[job.assoc.user] += 1;
    per_org[job.assoc.org] += 1;
    per_group[job.assoc.group] += 1;
  }

  // Quotas: jobs pending or running (counted only when such a limit exists), CPU-hours of the period.
  std::map<std::string, int> active_user, active_org, active_group;
  bool count_active = false;
  for (const Job& job : jobs) {
    const Limits* ol = org_limits(st.policy, job.assoc.org);
    const Limits* gl = group_limits(st.policy, job.assoc.group);
    count_active = count_active || user_limits(st.policy, job.assoc.user).max_submitted_jobs ||
                   (ol && ol->max_submitted_jobs) || (gl && gl->max_submitted_jobs);
  }
  for (const auto& [id, job] : st.jobs) {
    if (!count_active) break;
    if (job.state == JobState::kPending || job.state == JobState::kRunning) {
      active_user[job.assoc.user] += 1;
      active_org[job.assoc.org] += 1;
      active_group[job.assoc.group] += 1;
    }
  }
  auto check = [&](const Limits& l, std::string_view kind, const std::string& id, int active, int adding,
                   double used_s, const Job& job) -> Status {
    std::string who = fmt::format("{} {}", kind, id);
    if (l.max_submitted_jobs && active + adding > *l.max_submitted_jobs) {
      return quota_error(
          fmt::format("{} may have at most {} jobs pending or running; has {}, submitting {} ({} over)", who,
                      *l.max_submitted_jobs, active, adding, active + adding - *l.max_submitted_jobs),
          "max_submitted_jobs", *l.max_submitted_jobs, active, adding, job, kind, id);
    }
    if (l.max_cpu_hours) {
      double used = used_s / 3600.0;
      double need = job.request.cpus * static_cast<double>(job.request.time_limit) / 3.6e6;
      if (used >= *l.max_cpu_hours) {
        return quota_error(fmt::format("{} has used {:.2f} of {:.2f} CPU-hours this period ({:.2f} over)", who, used,
                                       *l.max_cpu_hours, used - *l.max_cpu_hours),
                           "max_cpu_hours", *l.max_cpu_hours, used, need, job, kind, id);
      }
      if (need > *l.max_cpu_hours) {
        return quota_error(fmt::format("the job may use {:.2f} CPU-hours ({} CPUs x {}); {}'s limit is {:.2f} per "
                                       "period ({:.2f} over)",
                                       need, job.request.cpus, format_duration(job.request.time_limit), who,
                                       *l.max_cpu_hours, need - *l.max_cpu_hours),
                           "max_cpu_hours", *l.max_cpu_hours, used, need, job, kind, id);
      }
    }
    return {};
  };
  for (const Job& job : jobs) {
    const std::string& u = job.assoc.user;
    const std::string& o = job.assoc.org;
    TRY_STATUS(check(user_limits(st.policy, u), "user", u, active_user[u], per_user[u],
                     st.ledger.user(u, now).allocated_cpu_seconds, job));
    if (const Limits* ol = org_limits(st.policy, o)) {
      TRY_STATUS(check(*ol, "org", o, active_org[o], per_org[o], st.ledger.org(o, now).allocated_cpu_seconds, job));
    }
    const std::string& g = job.assoc.group;
    if (const Limits* gl = group_limits(st.policy, g)) {
      TRY_STATUS(check(*gl, "group", g, active_group[g], per_group[g],
                       st.ledger.group(o, g, now).allocated_cpu_seconds, job));
    }
  }
  return {};
}

Result<Transition> Scheduler::submit(ClusterState& state, Job job, Millis now) const {
  TRY_STATUS(check_submission(state, std::span<const Job>(&job, 1), now));
  job.submit_time = now;
  job.state = JobState::kPending;
  job.reason = job.held ? PendingReason::kHeld : PendingReason::kNone;
  job.reason_detail.clear();
  job.estimated_start.reset();
  job.start_time.reset();
  job.end_time.reset();
  job.allocation.reset();
  job.exit_code.reset();
  Transition t{job.id, std::nullopt, JobState::kPending, JobEvent::kSubmit, job.reason, now, "submitted", std::nullopt};
  JobId id = job.id;
  state.jobs.emplace(std::move(id), std::move(job));
  return t;
}

Result<std::vector<Transition>> Scheduler::submit_array(ClusterState& state, const Job& tmpl, const ArraySpec& spec,
                                                        std::span<const JobId> task_ids, Millis now) const {
  const ArrayLimits& limits = config_.array_limits;
  if (spec.indices.size() > limits.max_tasks || (!spec.indices.empty() && spec.indices.back() > limits.max_index)) {
    return fail(
        ErrorCode::kInvalidArgument, "invalid-array-spec",
        fmt::format("arrays may have at most {} tasks with indices up to {}", limits.max_tasks, limits.max_index));
  }
  std::vector<Job> tasks = TRY(expand_array(tmpl, spec, task_ids));
  if (state.jobs.contains(tmpl.id)) {
    return fail(ErrorCode::kAlreadyExists, "already-exists", fmt::format("array id {} is a job id", tmpl.id));
  }
  for (const auto& [id, job] : state.jobs) {
    if (job.array && job.array->array_id == tmpl.id) {
      return fail(ErrorCode::kAlreadyExists, "already-exists", fmt::format("array {} already exists", tmpl.id));
    }
  }
  TRY_STATUS(check_submission(state, tasks, now));
  std::vector<Transition> out;
  for (Job& task : tasks) out.push_back(TRY(submit(state, std::move(task), now)));
  return out;
}

Result<std::vector<Transition>> Scheduler::apply(ClusterState& state, const ScheduleResult& result) const {
  Millis now = result.now;
  auto stale = [](std::string detail) {
    return fail(ErrorCode::kAborted, "schedule-stale", detail + "; run schedule() again");
  };
  // Validate everything first, so that a stale result changes nothing.
  FreeResources free = free_now(state, JobViews(state).running);
  for (const JobStart& s : result.starts) {
    auto it = state.jobs.find(s.job);
    if (it == state.jobs.end() || it->second.state != JobState::kPending || it->second.held) {
      return stale(fmt::format("job {} is no longer a startable PENDING job", s.job));
    }
    const Allocation& a = s.allocation;
    GpuMask mask = a.gpu_mask();
    if (gpu_count(mask) != static_cast<int>(a.gpus.size()) || (mask & ~free.gpus) != 0 || a.cpus > free.cpus ||
        a.mem_mb > free.mem_mb || a.cpus != it->second.request.cpus || a.mem_mb != it->second.request.mem_mb ||
        static_cast<int>(a.gpus.size()) != it->second.request.gpus) {
      return stale(fmt::format("the allocation for job {} no longer fits", s.job));
    }
    free.cpus -= a.cpus;
    free.mem_mb -= a.mem_mb;
    free.gpus &= ~mask;
  }
  for (const JobCancel& c : result.cancels) {
    auto it = state.jobs.find(c.job);
    if (it == state.jobs.end() || it->second.state != JobState::kPending) {
      return stale(fmt::format("job {} is no longer PENDING", c.job));
    }
  }

  std::vector<Transition> out;
  for (const JobStart& s : result.starts) {
    Job& job = state.jobs.at(s.job);
    Transition t = TRY(apply_event(job, JobEvent::kStart, now, s.backfilled ? "scheduled (backfill)" : "scheduled"));
    job.allocation = s.allocation;
    job.reason_detail.clear();
    out.push_back(std::move(t));
  }
  for (const JobCancel& c : result.cancels) {
    Job& job = state.jobs.at(c.job);
    Transition t = TRY(apply_event(job, JobEvent::kDependencyNeverSatisfied, now, c.cause));
    job.reason_detail = c.cause;
    out.push_back(std::move(t));
  }
  for (const PendingInfo& p : result.pending) {
    auto it = state.jobs.find(p.job);
    if (it == state.jobs.end() || it->second.state != JobState::kPending) continue;
    it->second.reason = p.reason;
    if (it->second.reason_detail != p.text()) it->second.reason_detail = p.text();  // mostly unchanged
    it->second.estimated_start = p.estimated_start;
    it->second.priority = p.priority.priority;
  }
  return out;
}

Result<Transition> Scheduler::end_running(ClusterState& state, Job& job, JobEvent event, int exit_code,
                                          const JobUsage& usage, Millis now, std::string cause) const {
  Millis start = job.start_time.value_or(now);
  int cpus = job.allocation ? job.allocation->cpus : job.request.cpus;
  Transition t = TRY(apply_event(job, event, now, std::move(cause)));
  Millis wall = std::max<Millis>(now - start, 0);
  Job charged = job;  // requeue clears the times: charge from what the job held
  charged.start_time = start;
  charged.end_time = now;
  charge(state.usage, charged);
  state.ledger.add(job.assoc, cpus, wall, usage, now);
  if (event != JobEvent::kRequeue && event != JobEvent::kCancel) {
    job.exit_code = exit_code;
    t.exit_code = exit_code;
  }
  return t;
}

Result<Transition> Scheduler::finish(ClusterState& state, std::string_view id, const JobEnd& end, Millis now) const {
  auto it = state.jobs.find(std::string(id));
  if (it == state.jobs.end()) return not_found(fmt::format("job {}", id));
  Job& job = it->second;
  JobEvent event = TRY(end_event(end.state));
  if (job.state != JobState::kRunning) {
    return fail(
        ErrorCode::kFailedPrecondition, "illegal-transition",
        fmt::format("job {} is {}; only a RUNNING job can end {}", id, state_name(job.state), state_name(end.state)));
  }
  if (end.state == JobState::kCompleted && end.exit_code != 0) {
    return invalid(fmt::format("job {}: COMPLETED needs exit code 0, got {}", id, end.exit_code));
  }
  if (end.state == JobState::kFailed && end.exit_code == 0) {
    return invalid(fmt::format("job {}: FAILED needs a non-zero exit code", id));
  }
  std::string cause = end.cause.empty() ? std::string(state_name(end.state)) : end.cause;
  Result<Transition> t = end_running(state, job, event, end.exit_code, end.usage, now, std::move(cause));
  if (t && event == JobEvent::kCancel) {
    job.exit_code = end.exit_code;
    t->exit_code = end.exit_code;
  }
  return t;
}

Result<Transition> Scheduler::cancel(ClusterState& state, std::string_view id, Millis now, std::string cause,
                                     const JobUsage& measured) const {
  auto it = state.jobs.find(std::string(id));
  if (it == state.jobs.end()) return not_found(fmt::format("job {}", id));
  Job& job = it->second;
  if (job.state == JobState::kRunning) {
    return end_running(state, job, JobEvent::kCancel, 0, measured, now, std::move(cause));
  }
  return apply_event(job, JobEvent::kCancel, now, std::move(cause));
}

Result<Transition> Scheduler::hold(ClusterState& state, std::string_view id, Millis now, std::string cause) const {
  auto it = state.jobs.find(std::string(id));
  if (it == state.jobs.end()) return not_found(fmt::format("job {}", id));
  return apply_event(it->second, JobEvent::kHold, now, std::move(cause));
}

Result<Transition> Scheduler::release(ClusterState& state, std::string_view id, Millis now, std::string cause) const {
  auto it = state.jobs.find(std::string(id));
  if (it == state.jobs.end()) return not_found(fmt::format("job {}", id));
  return apply_event(it->second, JobEvent::kRelease, now, std::move(cause));
}

Result<Transition> Scheduler::requeue(ClusterState& state, std::string_view id, Millis now, std::string cause,
                                      const JobUsage& measured) const {
  auto it = state.jobs.find(std::string(id));
  if (it == state.jobs.end()) return not_found(fmt::format("job {}", id));
  Job& job = it->second;
  if (job.state == JobState::kRunning) {
    return end_running(state, job, JobEvent::kRequeue, 0, measured, now, std::move(cause));
  }
  return apply_event(job, JobEvent::kRequeue, now, std::move(cause));
}

std::size_t prune_finished(ClusterState& state) {
  std::set<JobId> needed;
  for (const auto& [id, job] : state.jobs) {
    if (job.state != JobState::kPending) continue;
    for (const Dependency& d : job.dependency.items) needed.insert(d.target);
  }
  std::size_t dropped = 0;
  for (auto it = state.jobs.begin(); it != state.jobs.end();) {
    const Job& job = it->second;
    bool keep =
        !is_terminal(job.state) || needed.contains(job.id) || (job.array && needed.contains(job.array->array_id));
    if (keep) {
      ++it;
    } else {
      it = state.jobs.erase(it);
      ++dropped;
    }
  }
  return dropped;
}

}  // namespace atrium::compute
