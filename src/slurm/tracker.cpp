// The tracker: every poll_ms while it follows jobs, SLURM's listing if anything changed since the
// last poll (slurmctld's update_time: all or nothing); a full one every ~30 s and after every
// reconnect. Each listing finds jobs SLURM lost and orphans; a full one also jobs Atrium ended that SLURM still runs. What SLURM
// says goes to jobs (observe_remote) once per change.
#include <spdlog/spdlog.h>

#include "slurm/cluster.hpp"
#include "slurm/translate.hpp"

namespace atrium::slurm {

namespace {

// The active rows by SLURM identity.
struct Index {
  std::map<std::int64_t, JobRow> single;                           // SLURM job id -> row
  std::map<std::pair<std::int64_t, std::int64_t>, JobRow> tasks;   // (array job id, task) -> row
  std::map<std::int64_t, std::vector<JobRow>> arrays;              // array job id -> its task rows

  explicit Index(const std::vector<JobRow>& rows) {
    for (auto& r : rows) {
      if (!r.slurm_job_id) continue;
      if (r.array_task_id) {
        tasks[{*r.slurm_job_id, *r.array_task_id}] = r;
        arrays[*r.slurm_job_id].push_back(r);
      } else {
        single[*r.slurm_job_id] = r;
      }
    }
  }
  // The rows one listed SLURM job stands for (a pending array's rest: several). Its comment must
  // be the row's: a slurmctld that lost its last state (kill -9) hands a lost job's id out again.
  std::vector<JobRow> rows_of(const JobInfo& j) const {
    auto out = ids_of(j);
    std::erase_if(out, [&](const JobRow& r) { return r.comment() != j.comment; });
    return out;
  }
  std::vector<JobRow> ids_of(const JobInfo& j) const {
    std::vector<JobRow> out;
    if (!j.array_job_id) {
      if (auto it = single.find(j.job_id); it != single.end()) out.push_back(it->second);
      return out;
    }
    if (j.array_task_id) {
      if (auto it = tasks.find({j.array_job_id, *j.array_task_id}); it != tasks.end()) out.push_back(it->second);
      return out;
    }
    auto idx = parse_task_string(j.array_task_string);
    if (auto it = arrays.find(j.array_job_id); it != arrays.end())
      for (auto& r : it->second)
        if (idx.contains(static_cast<std::uint32_t>(*r.array_task_id))) out.push_back(r);
    return out;
  }
};

std::string fingerprint(const jobs::Observation& o) {
  return std::string(compute::state_name(o.state)) + "|" + o.slurm_state + "|" + o.reason + "|" + o.nodes + "|" +
         (o.held ? "h" : "") + "|" + (o.exit_code ? std::to_string(*o.exit_code) : "");
}

}  // namespace

Millis Cluster::tracker_run() {
  Millis now = svc_.clock_.now_ms(), until = 0;
  if (backing_off(now, until)) return until;
  bool full = false;
  {
    std::lock_guard lk(mu_);
    full = need_full_ || now - last_full_ >= svc_.settings_.full_listing_every;
  }
  // Nothing of this cluster to follow: only the full listings (orphans, partitions) ask slurmctld,
  // so an idle server costs it two RPCs a minute, not one a second.
  if (!full && !svc_.follows(name_)) return 0;
  if (auto st = poll(full); !st && refused(st.error()))
    spdlog::warn("slurm cluster {}: tracking: {}", name_, st.error().detail);
  return 0;
}

Status Cluster::poll(bool full) {
  Millis started = svc_.clock_.now_ms();
  Millis since = 0;
  {
    std::lock_guard lk(mu_);
    if (!full) since = last_poll_;  // the time the previous listing was asked for
  }
  auto list = TRY(call("jobs", [&] { return rest_.jobs(since); }));
  if (!list.unchanged) {
    Index index(svc_.remembered_active(name_));
    for (auto& info : list.jobs)
      for (auto& row : index.rows_of(info)) apply(row, info);
    // slurmctld lists every job it knows whenever anything changed: each listing is complete.
    reconcile(list.jobs, started, full);
  }
  std::optional<std::vector<PartitionState>> parts;
  std::vector<NodeState> nodes;
  if (full)
    if (auto p = call("partitions", [&] { return rest_.partitions(&nodes); }); p) parts = std::move(*p);
  std::lock_guard lk(mu_);
  last_poll_ = started;
  if (parts) {
    partitions_.clear();
    for (auto& p : *parts) partitions_[p.name] = p;
    NodeCounts counts{.total = static_cast<std::int64_t>(nodes.size())};
    for (auto& n : nodes) {
      auto c = condition_of(n);
      counts.down += c == NodeCondition::kDown;
      counts.drained += c == NodeCondition::kDrained;
    }
    nodes_ = counts;
  }
  if (full) {
    last_full_ = started;
    need_full_ = false;
  }
  return {};
}

void Cluster::apply(const JobRow& row, const JobInfo& info) {
  auto o = observation_of(info);
  if (!o) return;
  o->run = static_cast<int>(row.generation);
  if (info.restart_count > 0 && !compute::is_terminal(o->state)) {
    // SLURM requeued it (its node failed, with JobRequeue=1): that run ended NODE_FAIL; SLURM's
    // rerun is then an orphan of this run and is cancelled.
    o->state = compute::JobState::kNodeFail;
    o->reason = "SLURM requeued job " + std::to_string(info.job_id) + " (its node failed; restart " +
                std::to_string(info.restart_count) + ")";
    o->end_time = svc_.clock_.now_ms();
  }
  // A hold or release SLURM has not applied yet is what jobs already shows: no flapping.
  if (!row.control_sent && (row.control == "hold" || row.control == "release")) o->held = row.control == "hold";
  std::string fp = fingerprint(*o);
  if (seen_[row.job_id] == fp) return;
  // A requeue may have given the row a new SLURM job since the index was made.
  auto now_row = svc_.remembered(row.job_id);
  if (!now_row || now_row->slurm_job_id != row.slurm_job_id || !now_row->active()) return;
  // SLURM's fields (its state, reason and nodes) first, then the job's state: a reader never sees
  // a job RUNNING (or ended) on SLURM without the node SLURM gave it.
  Millis now = svc_.clock_.now_ms();
  auto st = svc_.mutate(row.job_id, [&](JobRow& x) -> Status {
    if (x.slurm_job_id != row.slurm_job_id) return {};
    x.slurm_state = info.state;
    x.reason = o->reason;
    x.nodes = info.nodes;
    x.last_seen_ms = now;
    if (info.array_task_id) x.task_job_id = info.job_id;
    return {};
  });
  if (!st) spdlog::warn("slurm cluster {}: job {}: {}", name_, row.job_id, st.error().detail);
  if (auto obs = svc_.jobs_.observe(row.job_id, *o); !obs) {
    spdlog::warn("slurm cluster {}: job {} ({} {}): {}", name_, row.job_id, info.job_id, info.state, obs.error().detail);
    return;  // told again at the next poll
  }
  seen_[row.job_id] = fp;
  bool ended = compute::is_terminal(o->state);
  if (ended) {
    // Only once jobs has the end: a row ended before that would no longer be followed.
    auto done = svc_.mutate(row.job_id, [&](JobRow& x) -> Status {
      if (x.slurm_job_id == row.slurm_job_id) x.state = kEnded;
      return {};
    });
    if (!done) spdlog::warn("slurm cluster {}: job {}: {}", name_, row.job_id, done.error().detail);
    seen_.erase(row.job_id);
    if (!row.control_sent) kick_handover();
  }
  if (o->state == compute::JobState::kNodeFail) {
    // A node failed: the next poll is a full listing, so the node counts (and an alert on them)
    // follow now rather than within 30 s.
    std::lock_guard lk(mu_);
    need_full_ = true;
  }
}

// With a complete listing: jobs SLURM no longer knows end NODE_FAIL (jobs reads outcome.json first);
// SLURM jobs with the comment of one of this server's jobs that no active row maps (orphans: an old
// run of a requeued job, a server that died) are cancelled: only ours (submit_user); and, every full listing (`full`), jobs Atrium ended
// that SLURM still runs (an environment that ended while this server was down).
void Cluster::reconcile(const std::vector<JobInfo>& listing, Millis listed_at, bool full) {
  auto rows = svc_.remembered_active(name_);
  Index index(rows);
  std::set<std::string> present;
  for (auto& info : listing) {
    auto mine = index.rows_of(info);
    for (auto& r : mine) present.insert(r.job_id);
    if (!slurm_active(info.state)) continue;
    if (mine.empty()) {
      // Only what this server submitted: another Atrium on the same cluster has keys this one
      // never issued (every submission has a row here before it reaches SLURM).
      std::string key = key_of_comment(info.comment);
      if (key.empty() || info.user_name != cfg_.submit_user || !svc_.knows_key(key)) continue;
      bool in_flight = std::any_of(rows.begin(), rows.end(), [&](const JobRow& r) {
        return (r.state == kQueued || r.state == kSubmitting) && r.comment() == info.comment;
      });
      if (in_flight) continue;  // the hand-over adopts it
      spdlog::warn("slurm cluster {}: cancelling SLURM job {} ({}): Atrium does not track it", name_, info.job_id,
                   info.comment);
      (void)call("cancel", [&] { return rest_.cancel(info.job_id); });
      continue;
    }
    for (auto& r : mine) {
      if (!full) break;
      auto rec = svc_.jobs_.get(r.job_id);
      if (!rec || !*rec || !compute::is_terminal((*rec)->job.state)) continue;
      spdlog::info("slurm cluster {}: job {} has ended in Atrium; cancelling SLURM job {}", name_, r.job_id, info.job_id);
      (void)call("cancel", [&] { return rest_.cancel(info.job_id); });
    }
  }
  for (auto& r : rows) {
    if (r.state != kSubmitted || !r.submitted_ms || *r.submitted_ms >= listed_at || present.contains(r.job_id)) continue;
    std::string id = std::to_string(*r.slurm_job_id) + (r.array_task_id ? "_" + std::to_string(*r.array_task_id) : "");
    jobs::Observation o{.state = compute::JobState::kNodeFail, .slurm_state = "", .reason = "SLURM no longer knows job " + id};
    o.run = static_cast<int>(r.generation);
    o.end_time = listed_at;
    if (auto st = svc_.jobs_.observe(r.job_id, o); !st) {
      spdlog::warn("slurm cluster {}: job {}: {}", name_, r.job_id, st.error().detail);
      continue;
    }
    auto st = svc_.mutate(r.job_id, [&](JobRow& x) -> Status {
      if (x.slurm_job_id == r.slurm_job_id) x.state = kEnded;
      return {};
    });
    if (!st) spdlog::warn("slurm cluster {}: job {}: {}", name_, r.job_id, st.error().detail);
  }
}

}  // namespace atrium::slurm
