// jobs::Service: a running job's end (its outcome, captured outputs, released datasets) and the
// re-adoption of running jobs after a restart.
#include <spdlog/spdlog.h>

#include "core/crypto.hpp"
#include "jobs/service.hpp"

namespace atrium::jobs {
namespace {

using compute::Job;
using compute::JobState;
using nlohmann::json;

// How the sandbox's outcome ends the job.
compute::JobEnd job_end(const std::optional<json>& outcome, const std::string& stop_requested,
                        const std::string& fallback_cause, JobState fallback_state, std::optional<int> fallback_exit) {
  compute::JobEnd end;
  if (!outcome) {
    end.state = fallback_state;
    // FAILED (the job refused before it ran) takes a non-zero code: 125, what `atrium exec` says
    // when it does not run a job. SLURM's code when it gave one (COMPLETED is 0, FAILED never is).
    end.exit_code = fallback_state == JobState::kFailed ? 125 : 0;
    if (fallback_exit && fallback_state != JobState::kCompleted)
      end.exit_code = fallback_state == JobState::kFailed && *fallback_exit == 0 ? 1 : *fallback_exit;
    end.cause = fallback_cause;
    return end;
  }
  auto o = sandbox::outcome_from_json(*outcome);
  if (!o) {
    end.state = JobState::kNodeFail;
    end.cause = "unreadable outcome of the job's supervisor: " + o.error().detail;
    return end;
  }
  end.usage.cpu_seconds = o->cpu_seconds;
  end.usage.peak_mem_mb = (o->peak_memory_bytes + (1 << 20) - 1) >> 20;
  end.exit_code = o->exit_code;
  if (stop_requested == "cancel" || o->kind == "cancelled") {
    end.state = JobState::kCancelled;
    end.cause = stop_requested == "cancel" ? "cancelled" : "the job's supervisor was stopped on the host";
  } else if (o->kind == "timeout") {
    end.state = JobState::kTimeout;
    end.cause = "time limit reached";
  } else if (o->kind == "oom") {
    end.state = JobState::kOutOfMemory;
    end.cause = "memory limit reached: the kernel killed the job";
  } else if (o->kind == "setup_failed") {
    end.state = JobState::kNodeFail;
    end.exit_code = 0;
    end.cause = "sandbox setup failed: " + o->detail;
  } else if (o->exit_code == 0) {
    end.state = JobState::kCompleted;
    end.cause = "exit 0";
  } else {
    end.state = JobState::kFailed;
    end.cause = o->kind == "signaled" ? "killed by signal " + std::to_string(o->signal)
                                      : "exit " + std::to_string(o->exit_code);
  }
  return end;
}

}  // namespace

void Service::on_exit(const std::string& id, const std::string& cause) {
  if (auto st = end_job(id, std::nullopt, cause); !st) spdlog::error("job {}: {}", id, st.error().detail);
}

Status Service::end_job(const std::string& id, const std::optional<json>& given, const std::string& fallback,
                       JobState fallback_state) {
  auto st = db_.write_tx([&](db::Tx& tx) -> Status {
    auto lk = lock();
    auto it = state_.jobs.find(id);
    if (it == state_.jobs.end() || it->second.state != JobState::kRunning) return {};
    auto rec = TRY(get(tx, id));
    if (!rec) return {};
    undo_on_rollback(tx);
    return record_end(tx, *rec, given ? given : executor_->outcome(*rec), fallback, clock_.now_ms(), fallback_state);
  });
  if (st) (void)release_datasets(id);
  return st;
}

// The plaintext of the datasets it mounted lives only while a job of its uid runs with them.
Status Service::release_datasets(const std::string& id) {
  if (!settings_.release_dataset) return {};
  auto mounts = db_.read([&](db::Tx& tx) -> Result<std::pair<std::int64_t, std::vector<DatasetMount>>> {
    auto rec = TRY(get(tx, id));
    if (!rec || rec->job.state == JobState::kRunning) return std::pair<std::int64_t, std::vector<DatasetMount>>{};
    return std::pair{rec->uid, TRY(job_datasets(tx, id))};
  });
  if (!mounts) {
    spdlog::error("job {}: {}", id, mounts.error().detail);
    return std::unexpected(mounts.error());
  }
  for (auto& m : mounts->second)
    if (auto rs = settings_.release_dataset(m.dataset_id, m.number, mounts->first); !rs)
      spdlog::error("job {}: removing the copy of dataset {} version {}: {}", id, m.dataset_id, m.number,
                    rs.error().detail);
  return {};
}

Status Service::fail_start(const std::string& id, const std::string& why) {
  return db_.write_tx([&](db::Tx& tx) -> Status {
    auto lk = lock();
    auto it = state_.jobs.find(id);
    if (it == state_.jobs.end() || it->second.state != JobState::kRunning) return {};
    undo_on_rollback(tx);
    compute::JobEnd end{.state = JobState::kFailed, .exit_code = 125 /* atrium exec's setup failure */, .usage = {}, .cause = why};
    return persist(tx, TRY(sched_.finish(state_, id, end, clock_.now_ms())));
  });
}

void Service::add_tasks(tasks::Queue& queue) {
  queue.handle(std::string(kCaptureKind),
               [this](const tasks::Task& t) { return capture_outputs(t.payload.value("job_id", "")); });
}

// The "jobs.capture_outputs" task of a job that ended: its declared outputs stored as blobs
// (outside any transaction: it reads the whole workspace), then recorded as a dataset version.
// Idempotent: a second attempt (a worker that died, a lease taken over) finds the version recorded
// and stops; blobs stored twice are the same blobs. A refused capture (quotas, sizes, the disk) is
// recorded in the version's provenance, as before: the task succeeds.
Status Service::capture_outputs(const std::string& id) {
  struct Captured {
    JobRecord rec;  // its image: pinned at submission
    OutputsSpec spec;
    std::vector<DatasetMount> inputs;
    std::optional<CommitPin> commit;
  };
  auto found = TRY(db_.read([&](db::Tx& tx) -> Result<std::optional<Captured>> {
    auto rec = TRY(get(tx, id));
    if (!rec) return std::optional<Captured>();
    auto spec = TRY(job_outputs(tx, id));
    if (!spec || spec->version) return std::optional<Captured>();
    return std::optional<Captured>(Captured{*rec, *spec, TRY(job_datasets(tx, id)), TRY(job_commit(tx, id))});
  }));
  if (!found || !settings_.capture_outputs) return {};
  Captured& cap = *found;
  data::StorageOwner owner{cap.rec.org_id(), cap.rec.job.assoc.group, cap.rec.user_id()};
  auto entries =
      settings_.capture_outputs(run_dir(cap.rec).parent_path() / "workspace", cap.rec.uid, cap.spec.globs, owner);
  std::string error = entries ? "" : entries.error().detail;
  return db_.write_tx([&](db::Tx& tx) -> Status {
    auto spec = TRY(job_outputs(tx, id));
    if (!spec || spec->version) return {};  // recorded by another attempt meanwhile
    auto ds = TRY(data::get_dataset(tx, spec->dataset_id));
    if (!ds) return {};  // the dataset was deleted meanwhile
    const JobRecord& rec = cap.rec;
    json inputs = json::array();
    for (auto& d : cap.inputs) inputs.push_back({{"name", d.name}, {"dataset_id", d.dataset_id}, {"version", d.number}});
    json provenance = {{"source", "job"},
                       {"job_id", id},
                       {"state", compute::state_name(rec.job.state)},
                       {"exit_code", rec.job.exit_code ? json(*rec.job.exit_code) : json(nullptr)},
                       {"command", rec.script.empty() ? json(rec.argv) : json(nullptr)},
                       {"script_sha256", rec.script.empty() ? json(nullptr) : json(crypto::sha256_hex(rec.script))},
                       {"inputs", inputs},
                       {"globs", spec->globs},
                       {"commit", cap.commit ? json(cap.commit->commit) : json(nullptr)},
                       {"ref", cap.commit ? json(cap.commit->ref) : json(nullptr)},
                       {"image", rec.image ? json{{"name", rec.image->name}, {"digest", rec.image->digest}}
                                           : json("host")}};  // "host": the host's /usr, read-only
    if (!error.empty()) provenance["capture_error"] = error;
    Actor system{.user_id = rec.user_id(), .username = "job " + id, .request_id = id};
    auto v = TRY(data::add_version(tx, system, *ds, error.empty() ? *entries : std::vector<data::ManifestEntry>{},
                                   "outputs of job " + id, provenance, clock_.now_ms()));
    return set_outputs_version(tx, id, v["version"].get<std::int64_t>());  // the provenance link back
  });
}

Status Service::adopt(db::Tx& tx, const std::string& id, Millis now) {
  auto rec = TRY(get(tx, id));
  if (!rec) return {};
  auto found = executor_->adopt(*rec);
  if (found.running) return {};
  return record_end(tx, *rec, executor_->outcome(*rec), found.cause, now);
}

// A RUNNING job's process has ended: its outcome (or, without one, NODE_FAIL with `fallback`)
// becomes the end transition (or a requeue, when one was asked for) and its measurements. A job
// whose process ran and that declared outputs gets its capture as a task in the same transaction:
// a crash right after the end (a kill -9, here or while the server was down and the job ended)
// no longer loses them. Its workspace stays until then (nothing removes it before a new run of
// the job, and a requeued job is not captured).
Status Service::record_end(db::Tx& tx, const JobRecord& rec, const std::optional<json>& outcome,
                           const std::string& fallback, Millis now, JobState fallback_state,
                           std::optional<int> fallback_exit, compute::ClusterState* st) {
  compute::ClusterState& where = st ? *st : state_;
  auto end = job_end(outcome, rec.stop_requested, fallback, fallback_state, fallback_exit);
  compute::Transition t;
  bool requeued = rec.stop_requested == "requeue";
  if (requeued) t = TRY(sched_.requeue(where, rec.id(), now, "requeued", end.usage));
  else t = TRY(sched_.finish(where, rec.id(), end, now));
  TRY_STATUS(record(tx, where.jobs.at(rec.id()), t));
  if (!requeued && outcome && settings_.capture_outputs && TRY(job_outputs(tx, rec.id())))
    TRY(tasks::enqueue(tx,
                       {.kind = std::string(kCaptureKind),
                        .key = std::string(kCaptureKind) + ":" + rec.id(),
                        .payload = {{"job_id", rec.id()}},
                        .max_attempts = 5},
                       now));
  json enforced = outcome && outcome->contains("enforced") ? (*outcome)["enforced"] : json(nullptr);
  return set_measurements(tx, rec.id(), end.usage, enforced);
}

}  // namespace atrium::jobs
