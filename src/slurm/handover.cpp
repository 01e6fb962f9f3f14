// The hand-over worker: pending controls first, then each queued submission (one SLURM job, or
// one SLURM array for an Atrium array), exactly once: a row is marked `submitting` (durably)
// before the submit, and a `submitting` row is first looked up by its comment.
#include <condition_variable>
#include <mutex>
#include <set>

#include <spdlog/spdlog.h>

#include "core/crypto.hpp"
#include "core/dir.hpp"
#include "slurm/cluster.hpp"
#include "slurm/translate.hpp"

namespace atrium::slurm {


Millis Cluster::handover_run() {
  Millis now = svc_.clock_.now_ms(), until = 0;
  if (backing_off(now, until)) return until;
  if (auto st = send_controls(); !st) {
    if (!refused(st.error())) return 0;
    spdlog::warn("slurm cluster {}: {}", name_, st.error().detail);
  }
  std::vector<std::string> keys;
  std::set<std::string> seen;
  for (auto& r : svc_.remembered_active(name_))
    if ((r.state == kQueued || r.state == kSubmitting) && r.next_try_ms <= now && seen.insert(r.submit_key).second)
      keys.push_back(r.submit_key);
  // Several submissions at once (slurmrestd pipelines them over the pool's kept-alive
  // connections); the first "unreachable" stops the rest until the back-off has passed.
  std::mutex m;
  std::condition_variable cv;
  int running = 0;
  bool down = false;
  auto one = [this, &m, &cv, &running, &down](const std::string& key) {
    auto st = hand_over(key);
    if (!st && refused(st.error())) spdlog::warn("slurm cluster {}: handing over {}: {}", name_, key, st.error().detail);
    std::lock_guard g(m);
    if (!st && !refused(st.error())) down = true;
    --running;
    cv.notify_all();
  };
  const int parallel = std::max(1, svc_.settings_.parallel_handovers);
  for (auto& key : keys) {
    std::unique_lock lk(m);
    cv.wait(lk, [&] { return running < parallel; });
    if (down) break;
    ++running;
    lk.unlock();
    if (parallel == 1)
      one(key);  // on this thread: no second pool thread held
    else
      async::asio::post(svc_.rt_.pool(), [key, &one] { one(key); });
  }
  std::unique_lock lk(m);
  cv.wait(lk, [&] { return running == 0; });
  return 0;
}

// Cancel, hold, release sent to SLURM after their commit; a requeued job's old SLURM job cancelled.
Status Cluster::send_controls() {
  auto rows = svc_.remembered_active(name_);
  std::map<std::int64_t, int> active_in_array;
  std::map<std::int64_t, std::vector<std::string>> unsplit_cancels;
  for (auto& r : rows)
    if (r.array_task_id && r.slurm_job_id) ++active_in_array[*r.slurm_job_id];
  for (auto& r : rows) {
    if (r.old_slurm_job_id) {
      auto st = call("cancel", [&] { return rest_.cancel(*r.old_slurm_job_id); });
      if (!st && !refused(st.error())) return st;
      TRY_STATUS(svc_.mutate(r.job_id, [](JobRow& x) -> Status {
        x.old_slurm_job_id.reset();
        return {};
      }));
    }
    if (r.control_sent || r.state != kSubmitted || !r.slurm_job_id) continue;
    std::optional<std::int64_t> id = r.array_task_id ? r.task_job_id : r.slurm_job_id;
    if (!id) {
      // A pending task SLURM has not split off: only the whole array can be named (when every
      // task of it is cancelled); otherwise it is sent once the task runs.
      if (r.control == "cancel" || r.control == "requeue") unsplit_cancels[*r.slurm_job_id].push_back(r.job_id);
      continue;
    }
    Status st;
    if (r.control == "cancel" || r.control == "requeue") st = call("cancel", [&] { return rest_.cancel(*id); });
    if (r.control == "hold") st = call("hold", [&] { return rest_.hold(*id); });
    if (r.control == "release") st = call("release", [&] { return rest_.release(*id); });
    if (!st && !refused(st.error())) return st;
    if (!st) spdlog::warn("slurm cluster {}: {} of job {}: {}", name_, r.control, *id, st.error().detail);
    TRY_STATUS(svc_.mutate(r.job_id, [](JobRow& x) -> Status {
      x.control_sent = true;
      return {};
    }));
  }
  for (auto& [array_id, ids] : unsplit_cancels) {
    if (static_cast<int>(ids.size()) != active_in_array[array_id]) continue;
    auto st = call("cancel", [&] { return rest_.cancel(array_id); });
    if (!st && !refused(st.error())) return st;
    for (auto& id : ids)
      TRY_STATUS(svc_.mutate(id, [](JobRow& x) -> Status {
        x.control_sent = true;
        return {};
      }));
  }
  return {};
}

// A submission that may already be in SLURM (its submit's answer was lost, or the server died):
// adopted when SLURM lists a job with its comment, submitted by submit_user. Any SLURM user may set
// any comment on their own jobs (and a tenant knows its job ids): a job of another user is never
// Atrium's; adopted, that user's job would stand for the Atrium job (its state, hold, exit code and
// end) while the real one is never submitted.
Result<bool> Cluster::adopt_by_comment(std::vector<JobRow>& rows) {
  auto listing = TRY(call("jobs", [&] { return rest_.jobs(0); }));
  std::string comment = rows.front().comment();
  for (auto& j : listing.jobs) {
    if (j.comment != comment) continue;
    if (j.user_name != cfg_.submit_user) {
      spdlog::warn("slurm cluster {}: SLURM job {} of user {} carries {}: not adopted", name_, j.job_id,
                   j.user_name, comment);
      continue;
    }
    std::int64_t id = j.array_job_id ? j.array_job_id : j.job_id;
    Millis now = svc_.clock_.now_ms();
    for (auto& r : rows)
      TRY_STATUS(svc_.mutate(r.job_id, [&](JobRow& x) -> Status {
        x.state = kSubmitted;
        x.slurm_job_id = id;
        x.submitted_ms = now;
        if (x.control == "hold") x.control_sent = false;  // sent now that SLURM has it
        return {};
      }));
    spdlog::info("slurm cluster {}: adopted SLURM job {} ({}) instead of submitting again", name_, id, comment);
    return true;
  }
  return false;
}

// Tells jobs that these rows' jobs end without running (SLURM refused them, their run could not be
// prepared, a dependency can never be met), and ends the rows.
Status Cluster::end_rows(const std::vector<JobRow>& rows, compute::JobState state, const std::string& reason) {
  for (auto& r : rows) {
    jobs::Observation o{.state = state, .reason = reason};
    o.run = static_cast<int>(r.generation);
    o.end_time = svc_.clock_.now_ms();
    if (auto st = svc_.jobs_.observe(r.job_id, o); !st)
      spdlog::warn("slurm cluster {}: ending job {}: {}", name_, r.job_id, st.error().detail);
    TRY_STATUS(svc_.mutate(r.job_id, [](JobRow& x) -> Status {
      x.state = kEnded;
      return {};
    }));
  }
  return {};
}

// The SLURM --dependency of a job: Atrium ids translated to SLURM ids. `wait`: a target is not
// handed over yet (tried again later). An error: it can never be met (the job is cancelled).
Result<std::optional<std::string>> Cluster::dependency_of(const jobs::JobRecord& rec, bool& wait) {
  const auto& spec = rec.job.dependency;
  if (spec.empty()) return std::optional<std::string>{};
  std::string out;
  for (auto& d : spec.items) {
    std::string item;
    if (d.type == compute::DependencyType::kSingleton) {
      item = "singleton";
    } else {
      auto targets = TRY(svc_.db_.read([&](db::Tx& tx) -> Result<std::vector<JobRow>> {
        auto one = TRY(store::get(tx, d.target));
        if (one) return std::vector<JobRow>{*one};
        return store::by_key(tx, d.target);
      }));
      if (targets.empty() || targets.front().cluster != name_)
        return fail(ErrorCode::kFailedPrecondition, "dependency-never-satisfied",
                    "DependencyNeverSatisfied: " + d.target + " is not a job of SLURM cluster " + name_);
      const JobRow& t = targets.front();
      if (!t.slurm_job_id) {
        if (t.state != kEnded) {
          wait = true;
          return std::optional<std::string>{};
        }
        return fail(ErrorCode::kFailedPrecondition, "dependency-never-satisfied",
                    "DependencyNeverSatisfied: " + d.target + " ended without running");
      }
      std::string id = std::to_string(*t.slurm_job_id);
      if (t.job_id == d.target && t.array_task_id && t.submit_key != d.target)
        id += "_" + std::to_string(*t.array_task_id);  // one task of an array
      item = std::string(compute::dependency_type_name(d.type)) + ":" + id;
    }
    out += (out.empty() ? "" : (spec.any_of ? "?" : ",")) + item;
  }
  return std::optional<std::string>{out};
}

Status Cluster::hand_over(const std::string& submit_key) {
  auto all = TRY(svc_.db_.read([&](db::Tx& tx) { return store::by_key(tx, submit_key); }));
  std::vector<JobRow> rows;
  for (auto& r : all)
    if (r.state == kQueued || r.state == kSubmitting) rows.push_back(r);
  if (rows.empty()) return {};
  bool submitting = std::any_of(rows.begin(), rows.end(), [](auto& r) { return r.state == kSubmitting; });
  if (submitting && TRY(adopt_by_comment(rows))) {
    kick_tracker();
    return {};
  }
  return submit_group(rows);
}

}  // namespace atrium::slurm
