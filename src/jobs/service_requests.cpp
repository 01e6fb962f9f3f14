// jobs::Service: the requests that change a job (submit, cancel, hold, release, requeue), each
// inside the request's write transaction.
#include <spdlog/spdlog.h>

#include "audit/audit.hpp"
#include "core/ids.hpp"
#include "jobs/service.hpp"

namespace atrium::jobs {
namespace {

using compute::Job;
using compute::JobState;
using nlohmann::json;

// A job another module drives (an environment's) is held, released and requeued only by it.
Status refuse_if_managed(db::Tx& tx, const JobRecord& job, const char* verb) {
  auto by = TRY(managed_by(tx, job.id()));
  if (by.empty()) return {};
  return fail(Error(ErrorCode::kFailedPrecondition, "job-managed",
                    "job " + job.id() + " belongs to an " + by + "; it cannot be " + verb +
                        " on its own (stop the " + by + ", or cancel the job, which ends it)")
                  .with("managed_by", by));
}

}  // namespace

Result<Submitted> Service::submit(db::Tx& tx, const Actor& actor, const SubmitRequest& req, Millis now) {
  // The partition first: a name it does not know, limits it does not admit change nothing.
  std::string partition;
  auto remote = TRY(remote_partition(tx, req, partition));
  Job tmpl;
  tmpl.name = req.name;
  tmpl.assoc = {req.org_id, req.group_id, actor.user_id};
  tmpl.qos = req.qos;
  tmpl.request = req.resources;
  tmpl.submit_time = now;
  tmpl.begin_time = req.begin_time;
  tmpl.nice = req.nice;
  if (!req.dependency.empty()) {
    tmpl.dependency = TRY(compute::parse_dependency(req.dependency));
    // A dependency may name only jobs of the same organisation; others do not exist for the caller.
    for (auto& d : tmpl.dependency.items) {
      if (d.target.empty()) continue;
      auto org = TRY(org_of(tx, d.target));
      if (!org || *org != req.org_id)
        return fail(Error(ErrorCode::kInvalidArgument, "invalid-dependency", "no job " + d.target + " to depend on")
                        .with("field", "dependency"));
    }
    TRY_STATUS(check_dependency_partitions(tx, tmpl.dependency, partition));
  }
  std::optional<compute::ArraySpec> spec;
  if (!req.array.empty()) spec = TRY(compute::parse_array_spec(req.array, sched_.config().array_limits));
  std::int64_t uid = TRY(uid_for(tx, actor.user_id, settings_.uid_base));

  auto lk = lock();
  TRY_STATUS(refresh_policy(tx));
  Submitted out;
  std::string base = new_id("job", now);
  tmpl.id = base;  // an array: expand_array names every task's array after the template's id
  if (spec) out.array_id = base;
  // A remote job never enters state_ (the core would place it): its submission is checked on a
  // view of its own (the quotas, its dependencies), and SLURM schedules it.
  compute::ClusterState view;
  if (remote) view = TRY(remote_view(tx, tmpl));
  else
    for (auto& d : tmpl.dependency.items)
      if (!d.target.empty()) TRY_STATUS(ensure_loaded(tx, d.target));
  compute::ClusterState& st = remote ? view : state_;
  auto ts = TRY(submit_to(st, tmpl, spec, now));
  tx.on_end([this](bool committed) {
    if (committed) changes_.notify();  // the event stream shows new jobs
  });
  // From here on the memory holds the new jobs: a failure must reload it from the database.
  // Held jobs cannot start, so submitting them needs no scheduling pass; nor do remote ones.
  undo_on_rollback(tx, !req.hold && !remote);
  for (auto& t : ts) {
    JobRecord rec;
    rec.job = st.jobs.at(t.job);
    rec.project_id = req.project_id;
    rec.array_spec = spec ? compute::format_array_spec(*spec) : "";
    rec.argv = req.argv;
    rec.script = req.script;
    rec.env = req.env;
    rec.uid = uid;
    rec.image = req.image;
    rec.partition = partition;
    if (req.hold) {
      auto h = TRY(sched_.hold(st, t.job, now, "held at submission"));
      rec.job = st.jobs.at(t.job);
      rec.job.held = false;  // the row starts unheld; the hold is its second event
      TRY_STATUS(insert(tx, rec));
      TRY_STATUS(record(tx, st.jobs.at(t.job), h));
      rec.job = st.jobs.at(t.job);
    } else {
      TRY_STATUS(insert(tx, rec));
    }
    TRY_STATUS(insert_datasets(tx, rec.id(), req.datasets));
    if (req.outputs) TRY_STATUS(insert_outputs(tx, rec.id(), *req.outputs));
    if (req.commit) TRY_STATUS(insert_commit(tx, rec.id(), *req.commit));
    if (!req.notify.empty() && req.notify != "never") TRY_STATUS(insert_notify(tx, rec.id(), req.notify));
    TRY_STATUS(insert_secrets(tx, rec.id(), req.secrets));
    if (remote) track_remote(tx, rec);
    out.jobs.push_back(std::move(rec));
  }
  lk.unlock();
  json summary{{"project_id", req.project_id},
               {"resources", compute::describe(req.resources)},
               {"tasks", out.jobs.size()},
               {"partition", partition}};
  if (!req.name.empty()) summary["name"] = req.name;
  if (req.commit) summary["commit"] = req.commit->commit;
  if (req.image) summary["image"] = {{"name", req.image->name}, {"digest", req.image->digest}};
  if (!req.secrets.empty()) summary["secrets"] = secrets::to_json(req.secrets);  // names only
  if (!req.account.empty()) summary["account"] = req.account;
  TRY_STATUS(audit::record(tx, actor,
                           {req.org_id, "job.submit", "job", spec ? out.array_id : out.jobs.front().id(), summary},
                           now));
  // The backend checks what only it knows and queues the hand-over; its error undoes everything.
  if (remote) {
    TRY_STATUS(remote_->submitted(tx, out.jobs, req.account));
    if (req.hold)  // held at submission: handed over held
      for (auto& j : out.jobs) TRY_STATUS(remote_->control(tx, j, Control::kHold));
  }
  return out;
}

// Once the stop request is committed, the executor stops the job (one still being started: as
// soon as it runs).
void Service::stop_after_commit(db::Tx& tx, const std::string& id) {
  tx.on_end([this, id](bool committed) {
    if (committed) executor_->stop(id);
  });
}

Result<JobRecord> Service::cancel(db::Tx& tx, const Actor& actor, const JobRecord& job, Millis now) {
  if (job.partition != kLocalPartition) return cancel_remote(tx, actor, job, now);
  auto lk = lock();
  auto it = state_.jobs.find(job.id());
  if (it == state_.jobs.end() || compute::is_terminal(it->second.state))
    return fail(Error(ErrorCode::kFailedPrecondition, "job-finished", "job " + job.id() + " has already ended")
                    .with("state", std::string(compute::state_name(job.job.state))));
  JobRecord out = job;
  if (it->second.state == JobState::kRunning) {
    TRY_STATUS(set_stop_requested(tx, job.id(), "cancel"));
    stop_after_commit(tx, job.id());
    out.stop_requested = "cancel";
  } else {
    auto t = TRY(sched_.cancel(state_, job.id(), now, "cancelled by " + actor.username));
    undo_on_rollback(tx);
    TRY_STATUS(persist(tx, t));
    out.job = state_.jobs.at(job.id());
  }
  TRY_STATUS(audit::record(tx, actor, {job.org_id(), "job.cancel", "job", job.id(), json::object()}, now));
  return out;
}

// hold and release: a pending job's held flag, one event and one audit record.
Result<JobRecord> Service::toggle_hold(db::Tx& tx, const Actor& actor, const JobRecord& job, Millis now, bool hold) {
  TRY_STATUS(refuse_if_managed(tx, job, hold ? "held" : "released"));
  if (job.partition != kLocalPartition) return hold_remote(tx, actor, job, now, hold);
  auto lk = lock();
  if (!state_.jobs.contains(job.id()))
    return fail(Error(ErrorCode::kFailedPrecondition, "job-finished", "job " + job.id() + " has already ended"));
  auto t = hold ? TRY(sched_.hold(state_, job.id(), now, "held by " + actor.username))
                : TRY(sched_.release(state_, job.id(), now, "released by " + actor.username));
  undo_on_rollback(tx);  // a hold lifts the job's reservation: others may start
  TRY_STATUS(persist(tx, t));
  TRY_STATUS(audit::record(tx, actor, {job.org_id(), hold ? "job.hold" : "job.release", "job", job.id(), json::object()},
                           now));
  JobRecord out = job;
  out.job = state_.jobs.at(job.id());
  return out;
}

Result<JobRecord> Service::requeue(db::Tx& tx, const Actor& actor, const JobRecord& job, Millis now) {
  TRY_STATUS(refuse_if_managed(tx, job, "requeued"));
  if (job.partition != kLocalPartition) return requeue_remote(tx, actor, job, now);
  auto lk = lock();
  JobRecord out = job;
  auto it = state_.jobs.find(job.id());
  if (it != state_.jobs.end() && it->second.state == JobState::kRunning) {
    TRY_STATUS(set_stop_requested(tx, job.id(), "requeue"));
    stop_after_commit(tx, job.id());
    out.stop_requested = "requeue";
  } else {
    if (it != state_.jobs.end() && it->second.state == JobState::kPending)
      return fail(Error(ErrorCode::kFailedPrecondition, "illegal-transition", "job " + job.id() + " is still pending"));
    if (it == state_.jobs.end()) state_.jobs.emplace(job.id(), job.job);
    auto t = TRY(sched_.requeue(state_, job.id(), now, "requeued by " + actor.username));
    undo_on_rollback(tx);
    TRY_STATUS(persist(tx, t));
    out.job = state_.jobs.at(job.id());
  }
  TRY_STATUS(audit::record(tx, actor, {job.org_id(), "job.requeue", "job", job.id(), json::object()}, now));
  return out;
}

}  // namespace atrium::jobs
