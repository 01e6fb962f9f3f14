// jobs::Service: jobs of remote partitions (remote.hpp). They have rows, events, audit records,
// run directories and ends like every job, but never enter state_: the core never places them
// (SLURM does), passes, fair share and adoption skip them. The quota ledger counts them (their
// ends charge it through on_remote), and their requests (cancel, hold, release, requeue) record
// what is certain here, then hand the rest to the backend in the same transaction.
#include <spdlog/spdlog.h>

#include <fstream>

#include "audit/audit.hpp"
#include "core/io_thread.hpp"
#include "jobs/run_prep.hpp"
#include "jobs/service.hpp"

namespace atrium::jobs {
namespace {

namespace fs = std::filesystem;
using compute::Job;
using compute::JobState;
using nlohmann::json;

// A remote submission is checked against its partition's limits, not this node's.
constexpr compute::NodeResources kRemoteNode{1 << 20, std::int64_t{1} << 40, compute::kMaxGpus};

Error unknown_partition(const std::string& name) {
  return Error(ErrorCode::kInvalidArgument, "unknown-partition", "partition: no partition named '" +
                                                                     name.substr(0, 100) + "' (GET /api/v1/compute/partitions lists them)")
      .with("field", "partition");
}

Error exceeds(const std::string& partition, const std::string& what, std::int64_t asked, std::int64_t max) {
  return Error(ErrorCode::kInvalidArgument, "exceeds-partition",
               "resources." + what + ": " + std::to_string(asked) + " is more than partition " + partition +
                   " admits (" + std::to_string(max) + ")")
      .with("field", "resources." + what)
      .with("max", max);
}

// What a job's allocation is on a node SLURM chose: what it asked for (SLURM gives no less).
compute::Allocation requested(const compute::ResourceRequest& r) {
  compute::Allocation a;
  a.cpus = r.cpus;
  a.mem_mb = r.mem_mb;
  for (int i = 0; i < r.gpus; ++i) a.gpus.push_back(i);
  return a;
}

std::optional<json> read_outcome(const fs::path& run) {
  std::ifstream in(run / "outcome.json");
  if (!in) return std::nullopt;
  auto j = json::parse(in, nullptr, false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

std::string slurm_cause(const Observation& o) {
  std::string s = "SLURM: " + (o.slurm_state.empty() ? std::string(compute::state_name(o.state)) : o.slurm_state);
  if (!o.reason.empty() && o.reason != "None") s += " (" + o.reason + ")";
  return s;
}

}  // namespace

void Service::set_remote(Remote* remote) { remote_ = remote; }

Result<std::string> Service::default_partition(db::Tx& tx, const std::string& org_id) const {
  auto oc = TRY(org_compute(tx, org_id));
  return oc.default_partition.empty() ? settings_.default_partition : oc.default_partition;
}

// The submission's partition (its own, its org's default, the server's), checked: nullopt = local.
Result<std::optional<PartitionInfo>> Service::remote_partition(db::Tx& tx, const SubmitRequest& req,
                                                               std::string& name) const {
  name = req.partition.empty() ? TRY(default_partition(tx, req.org_id)) : req.partition;
  if (name == kLocalPartition) {
    if (!req.account.empty())
      return fail(Error(ErrorCode::kInvalidArgument, "account-not-applicable",
                        "account: only jobs of a SLURM partition are charged to an account")
                      .with("field", "account"));
    return std::optional<PartitionInfo>();
  }
  auto p = remote_ ? remote_->partition(name) : std::nullopt;
  if (!p) return fail(unknown_partition(name));
  const PartitionLimits& l = p->limits;
  const compute::ResourceRequest& r = req.resources;
  if (l.max_cpus > 0 && r.cpus > l.max_cpus) return fail(exceeds(name, "cpus", r.cpus, l.max_cpus));
  if (l.max_mem_mb > 0 && r.mem_mb > l.max_mem_mb) return fail(exceeds(name, "mem_mb", r.mem_mb, l.max_mem_mb));
  if (l.max_gpus > 0 && r.gpus > l.max_gpus) return fail(exceeds(name, "gpus", r.gpus, l.max_gpus));
  if (l.max_time > 0 && r.time_limit > l.max_time)
    return fail(exceeds(name, "time_limit_s", r.time_limit / 1000, l.max_time / 1000));
  return p;
}

// A dependency names jobs of the same scheduler only: local with local, remote with remote jobs
// of the same cluster (SLURM's --dependency takes SLURM ids of its own cluster).
Status Service::check_dependency_partitions(db::Tx& tx, const compute::DependencySpec& dep,
                                            const std::string& partition) const {
  auto cluster_of = [&](const std::string& p) -> std::string {
    if (p == kLocalPartition) return "";
    auto info = remote_ ? remote_->partition(p) : std::nullopt;
    return info ? "cluster:" + info->cluster : "partition:" + p;
  };
  for (auto& d : dep.items) {
    if (d.target.empty()) continue;
    auto theirs = TRY(partition_of(tx, d.target));
    if (!theirs || *theirs == partition || cluster_of(*theirs) == cluster_of(partition)) continue;
    return fail(Error(ErrorCode::kInvalidArgument, "invalid-dependency",
                      "dependency: job " + d.target + " runs on partition " + *theirs + ", this one on " + partition +
                          "; a job can depend only on jobs its own scheduler runs")
                    .with("field", "dependency"));
  }
  return {};
}

Result<std::vector<compute::Transition>> Service::submit_to(compute::ClusterState& st, const Job& tmpl,
                                                            const std::optional<compute::ArraySpec>& spec, Millis now) {
  if (!spec) return std::vector{TRY(sched_.submit(st, tmpl, now))};
  std::vector<compute::JobId> ids;
  ids.reserve(spec->indices.size());
  for (auto i : spec->indices) ids.push_back(tmpl.id + "_" + std::to_string(i));
  return sched_.submit_array(st, tmpl, *spec, ids, now);
}

// What a remote submission is checked against: the quotas (state_'s policy and ledger: a job
// counts its CPUs x time limit like a local one) and its dependencies' targets, on a node as large
// as the partition admits (checked before). mu_ held.
Result<compute::ClusterState> Service::remote_view(db::Tx& tx, const Job& tmpl) const {
  compute::ClusterState view;
  view.node = kRemoteNode;
  view.policy = state_.policy;
  view.ledger = state_.ledger;
  for (auto& d : tmpl.dependency.items) {
    if (d.target.empty()) continue;
    for (auto& id : TRY(job_or_tasks(tx, d.target)))
      if (auto rec = TRY(get(tx, id))) view.jobs.emplace(id, rec->job);
  }
  return view;
}

Status Service::on_remote(Job& job, const std::function<Status(compute::ClusterState&)>& f) {
  compute::ClusterState one;
  one.node = kRemoteNode;
  one.policy = state_.policy;
  one.ledger = std::move(state_.ledger);
  one.jobs.emplace(job.id, job);
  auto st = f(one);
  state_.ledger = std::move(one.ledger);
  if (st) job = one.jobs.at(job.id);
  return st;
}

Status Service::transition_remote(db::Tx& tx, JobRecord& rec,
                                  const std::function<Result<compute::Transition>(compute::ClusterState&)>& f) {
  undo_on_rollback(tx, false);
  TRY_STATUS(on_remote(rec.job, [&](compute::ClusterState& st) -> Status {
    auto t = TRY(f(st));
    return record(tx, st.jobs.at(rec.id()), t);
  }));
  track_remote(tx, rec);
  return {};
}

void Service::track_remote(db::Tx& tx, const JobRecord& rec) {
  (void)tx;
  if (compute::is_terminal(rec.job.state)) {
    remote_jobs_.erase(rec.id());
    return;
  }
  auto& live = remote_jobs_[rec.id()];
  live.assoc = rec.job.assoc;
  if (live.state != rec.job.state) {
    live.reason.clear();
    live.estimated_start.reset();
  }
  live.state = rec.job.state;
}

void Service::release_after_commit(db::Tx& tx, const std::string& id) {
  tx.on_end([this, id](bool committed) {
    if (!committed || !settings_.release_dataset || !launches_.enter()) return;
    async::asio::post(rt_.pool(), [this, id] {
      (void)release_datasets(id);
      launches_.leave();
    });
  });
}

// ------------------------------------------------------------------------------ requests

Result<JobRecord> Service::cancel_remote(db::Tx& tx, const Actor& actor, const JobRecord& job, Millis now) {
  if (compute::is_terminal(job.job.state))
    return fail(Error(ErrorCode::kFailedPrecondition, "job-finished", "job " + job.id() + " has already ended")
                    .with("state", std::string(compute::state_name(job.job.state))));
  JobRecord out = job;
  auto lk = lock();
  if (job.job.state == JobState::kRunning) {
    // It ends when SLURM says so (observe_remote): CANCELLED then.
    TRY_STATUS(set_stop_requested(tx, job.id(), "cancel"));
    out.stop_requested = "cancel";
  } else {
    TRY_STATUS(transition_remote(tx, out, [&](compute::ClusterState& st) {
      return sched_.cancel(st, job.id(), now, "cancelled by " + actor.username);
    }));
    release_after_commit(tx, job.id());
  }
  lk.unlock();
  TRY_STATUS(audit::record(tx, actor, {job.org_id(), "job.cancel", "job", job.id(), json::object()}, now));
  if (remote_) TRY_STATUS(remote_->control(tx, out, Control::kCancel));
  return out;
}

Result<JobRecord> Service::hold_remote(db::Tx& tx, const Actor& actor, const JobRecord& job, Millis now, bool hold) {
  if (compute::is_terminal(job.job.state))
    return fail(Error(ErrorCode::kFailedPrecondition, "job-finished", "job " + job.id() + " has already ended"));
  JobRecord out = job;
  auto lk = lock();
  TRY_STATUS(transition_remote(tx, out, [&](compute::ClusterState& st) {
    return hold ? sched_.hold(st, job.id(), now, "held by " + actor.username)
                : sched_.release(st, job.id(), now, "released by " + actor.username);
  }));
  lk.unlock();
  TRY_STATUS(audit::record(tx, actor, {job.org_id(), hold ? "job.hold" : "job.release", "job", job.id(), json::object()},
                           now));
  if (remote_) TRY_STATUS(remote_->control(tx, out, hold ? Control::kHold : Control::kRelease));
  return out;
}

// SLURM's own requeue reruns the same batch script, whose run directory is the old one: a
// requeued remote job is PENDING again at once (like scontrol requeue; a RUNNING one's run so far
// is charged), with a new run directory, and the backend stops the old SLURM job and hands the
// job over anew.
Result<JobRecord> Service::requeue_remote(db::Tx& tx, const Actor& actor, const JobRecord& job, Millis now) {
  if (job.job.state == JobState::kPending)
    return fail(Error(ErrorCode::kFailedPrecondition, "illegal-transition", "job " + job.id() + " is still pending"));
  JobRecord out = job;
  auto lk = lock();
  TRY_STATUS(transition_remote(tx, out, [&](compute::ClusterState& st) {
    return sched_.requeue(st, job.id(), now, "requeued by " + actor.username);
  }));
  lk.unlock();
  TRY_STATUS(audit::record(tx, actor, {job.org_id(), "job.requeue", "job", job.id(), json::object()}, now));
  if (remote_) TRY_STATUS(remote_->control(tx, out, Control::kRequeue));
  return out;
}

// ------------------------------------------------------------------------------ the backend's calls

Status Service::observe_remote(const std::string& id, const Observation& o) {
  expect_blocking_allowed("jobs::Service::observe_remote");
  JobRecord after;
  return db_.write_tx([&](db::Tx& tx) -> Status {
    auto rec = TRY(get(tx, id));
    if (!rec || rec->partition == kLocalPartition) return not_found("remote job " + id);
    if (compute::is_terminal(rec->job.state)) return {};  // late: the end is recorded
    if (o.run >= 0 && o.run != rec->job.requeue_count) return {};  // a run requeued since
    auto lk = lock();
    undo_on_rollback(tx, false);
    TRY_STATUS(observe_locked(tx, *rec, o, clock_.now_ms()));
    after = TRY(get(tx, id)).value_or(*rec);
    track_remote(tx, after);
    // What SLURM says of a job it has not started (shown as reason and estimated_start).
    if (auto it = remote_jobs_.find(id); it != remote_jobs_.end() && o.state == JobState::kPending &&
                                         after.job.state == JobState::kPending) {
      it->second.reason = o.reason == "None" ? "" : o.reason;
      it->second.estimated_start = o.estimated_start;
    }
    if (compute::is_terminal(after.job.state)) release_after_commit(tx, id);
    return {};
  });
}

// What SLURM says, applied to the row (mu_ held). A PENDING job seen only once it ended (a short
// job between two polls) starts first, at SLURM's start time; an observation of a state the job
// has passed (RUNNING after PENDING -> RUNNING -> ... seen late) changes nothing.
Status Service::observe_locked(db::Tx& tx, JobRecord rec, const Observation& o, Millis now) {
  const std::string& id = rec.id();
  if (o.state == JobState::kPending) {
    // A RUNNING job seen PENDING: a late observation, or SLURM requeued it itself; Atrium's view
    // stays until an end is seen.
    if (rec.job.state != JobState::kPending || o.held == rec.job.held) return {};
    return transition_remote(tx, rec, [&](compute::ClusterState& st) {
      return o.held ? sched_.hold(st, id, now, "held in SLURM") : sched_.release(st, id, now, "released in SLURM");
    });
  }
  Millis end = o.end_time.value_or(now);
  if (rec.job.state == JobState::kPending) {
    // Cancelled before it ran (SLURM may give such a job a start time equal to its end).
    bool never_ran = !o.start_time || (o.end_time && *o.start_time >= *o.end_time);
    if (o.state == JobState::kCancelled && never_ran)
      return transition_remote(tx, rec, [&](compute::ClusterState& st) { return sched_.cancel(st, id, end, slurm_cause(o)); });
    TRY_STATUS(on_remote(rec.job, [&](compute::ClusterState& st) -> Status {
      Job& j = st.jobs.at(id);
      if (j.held) TRY_STATUS(record(tx, j, TRY(sched_.release(st, id, now, "released in SLURM"))));
      Millis start = o.start_time.value_or(end);
      auto t = TRY(compute::apply_event(j, compute::JobEvent::kStart, start,
                                        o.nodes.empty() ? "started by SLURM" : "started by SLURM on " + o.nodes));
      j.allocation = requested(j.request);
      return record(tx, j, t);
    }));
  }
  if (o.state == JobState::kRunning) return {};
  // The end: the run's outcome.json first (what `atrium exec` saw), else SLURM's state and code.
  auto outcome = read_outcome(run_dir(rec));
  return on_remote(rec.job, [&](compute::ClusterState& st) -> Status {
    return record_end(tx, rec, outcome, slurm_cause(o), end, o.state, o.exit_code, &st);
  });
}

Result<RemoteRun> Service::prepare_remote(const std::string& id, const fs::path& node_data_dir) {
  expect_blocking_allowed("jobs::Service::prepare_remote");
  auto found = TRY(db_.read([&](db::Tx& tx) -> Result<std::optional<std::pair<JobRecord, std::string>>> {
    auto rec = TRY(get(tx, id));
    if (!rec) return std::nullopt;
    return std::pair{*rec, TRY(managed_by(tx, id))};
  }));
  if (!found || found->first.partition == kLocalPartition) return not_found("remote job " + id);
  const JobRecord& rec = found->first;
  if (compute::is_terminal(rec.job.state))
    return fail(Error(ErrorCode::kFailedPrecondition, "job-finished", "job " + id + " has already ended"));
  auto req = TRY(start_request(rec, requested(rec.job.request), false));
  auto run = TRY(prepare_run(settings_, req, node_data_dir));
  auto node = [&](const fs::path& p) { return rebase_path(p.string(), settings_.data_dir, node_data_dir); };
  RemoteRun out;
  out.run_dir = run.dir;
  out.exec_args = {"exec", "--spec", node(run.dir / "spec.json"), "--state-dir", node(run.dir)};
  out.wants_secrets = !TRY(db_.read([&](db::Tx& tx) { return job_secrets(tx, id); })).empty();
  // An environment's app listens on $ATRIUM_SOCKET inside its sandbox: where that is on the node.
  if (auto sock = run.spec.env.find("ATRIUM_SOCKET"); found->second == "environment" && sock != run.spec.env.end()) {
    for (auto& m : run.spec.mounts) {
      fs::path target(m.target), inside(sock->second);
      auto rel = inside.lexically_relative(target);
      if (!rel.empty() && *rel.begin() != "..") out.tunnel_socket = fs::path(m.source) / rel;
    }
  }
  return out;
}

Result<std::vector<secrets::Value>> Service::remote_secrets(const std::string& id) {
  expect_blocking_allowed("jobs::Service::remote_secrets");
  auto rec = TRY(db_.read([&](db::Tx& tx) { return get(tx, id); }));
  if (!rec || rec->partition == kLocalPartition) return not_found("remote job " + id);
  if (compute::is_terminal(rec->job.state))
    return fail(Error(ErrorCode::kFailedPrecondition, "job-finished", "job " + id + " has already ended"));
  auto wanted = TRY(db_.read([&](db::Tx& tx) { return job_secrets(tx, id); }));
  if (wanted.empty()) return std::vector<secrets::Value>{};
  if (!settings_.resolve_secrets) return internal("this server cannot resolve secrets");
  return db_.read([&](db::Tx& tx) { return settings_.resolve_secrets(tx, *rec, wanted); });
}

// ------------------------------------------------------------------------------ partitions

Status Service::check_partition(db::Tx& tx, const std::string& name, const std::string& org_id) const {
  if (name == kLocalPartition) return {};
  auto p = remote_ ? remote_->partition(name) : std::nullopt;
  if (!p) return fail(unknown_partition(name));
  if (!TRY(remote_->usable(tx, *p, org_id)))
    return fail(Error(ErrorCode::kPermissionDenied, "partition-forbidden",
                      "partition: the organisation may not use partition " + name)
                    .with("field", "partition"));
  return {};
}

Result<json> Service::partitions_json(db::Tx& tx, const std::vector<std::string>& orgs,
                                      const std::string& default_of_org) const {
  std::string def = default_of_org.empty() ? settings_.default_partition : TRY(default_partition(tx, default_of_org));
  auto limits = [](int cpus, std::int64_t mem, int gpus, Millis time) {
    return json{{"max_cpus", cpus}, {"max_mem_mb", mem}, {"max_gpus", gpus}, {"max_time_s", time / 1000}};
  };
  json items = json::array();
  items.push_back({{"name", kLocalPartition},
                   {"kind", "local"},
                   {"cluster", nullptr},
                   {"slurm_partition", nullptr},
                   {"limits", limits(settings_.node.cpus, settings_.node.mem_mb, settings_.node.gpus,
                                     sched_.config().max_time_limit)},
                   {"default", def == kLocalPartition}});
  for (auto& p : remote_ ? remote_->partitions() : std::vector<PartitionInfo>{}) {
    bool usable = orgs.empty();
    for (auto& o : orgs) usable = usable || TRY(remote_->usable(tx, p, o));
    if (!usable) continue;
    items.push_back({{"name", p.name},
                     {"kind", "slurm"},
                     {"cluster", p.cluster},
                     {"slurm_partition", p.slurm_partition},
                     {"limits", limits(p.limits.max_cpus, p.limits.max_mem_mb, p.limits.max_gpus, p.limits.max_time)},
                     {"default", def == p.name}});
  }
  return json{{"items", items}};
}

}  // namespace atrium::jobs
