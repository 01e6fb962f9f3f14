// jobs::Service: what the API and other modules read (a job's live view, usage, the node).
#include "jobs/service.hpp"

#include "http/etag.hpp"

namespace atrium::jobs {
namespace {

using compute::Job;
using compute::JobState;
using nlohmann::json;

json ms_or_null(const std::optional<Millis>& t) { return t ? json(format_rfc3339(*t)) : json(nullptr); }

}  // namespace

json Service::to_json(const JobRecord& r) const {
  const Job* live = nullptr;
  auto lk = lock();
  auto it = state_.jobs.find(r.id());
  if (it != state_.jobs.end()) live = &it->second;
  const Job& j = live && live->state == r.job.state ? *live : r.job;
  json out{{"id", j.id},
           {"name", j.name},
           {"project_id", r.project_id},
           {"org_id", r.org_id()},
           {"user_id", r.user_id()},
           {"state", compute::state_name(j.state)},
           {"held", j.held},
           {"reason", j.reason == compute::PendingReason::kNone ? json(nullptr) : json(compute::reason_name(j.reason))},
           {"reason_detail", j.reason_detail},
           {"submit_time", format_rfc3339(j.submit_time)},
           {"begin_time", ms_or_null(j.begin_time)},
           {"start_time", ms_or_null(j.start_time)},
           {"end_time", ms_or_null(j.end_time)},
           {"exit_code", j.exit_code ? json(*j.exit_code) : json(nullptr)},
           {"qos", j.qos.empty() ? state_.policy.default_qos : j.qos},
           {"nice", j.nice},
           {"dependency", j.dependency.empty() ? json(nullptr) : json(compute::format_dependency(j.dependency))},
           {"resources",
            {{"cpus", j.request.cpus},
             {"mem_mb", j.request.mem_mb},
             {"gpus", j.request.gpus},
             {"time_limit_s", j.request.time_limit / 1000}}},
           {"requeue_count", j.requeue_count},
           {"stop_requested", r.stop_requested.empty() ? json(nullptr) : json(r.stop_requested)},
           {"etag", http::etag_of(r.version)}};
  if (j.state == JobState::kPending) {
    out["priority"] = j.priority;
    out["estimated_start"] = ms_or_null(j.estimated_start);
  }
  bool remote = r.partition != kLocalPartition;
  if (remote && j.state == JobState::kPending) {
    // SLURM schedules it: its reason and estimated start, when the backend has seen them.
    out["priority"] = nullptr;
    out["estimated_start"] = nullptr;
    if (auto it = remote_jobs_.find(r.id()); it != remote_jobs_.end()) {
      if (!it->second.reason.empty() && !j.held) out["reason"] = it->second.reason;
      out["estimated_start"] = ms_or_null(it->second.estimated_start);
    }
  }
  out["allocation"] = j.allocation ? json{{"cpus", j.allocation->cpus},
                                          {"mem_mb", j.allocation->mem_mb},
                                          {"gpus", j.allocation->gpus}}
                                   : json(nullptr);
  out["array"] = j.array ? json{{"array_id", j.array->array_id},
                                {"index", j.array->index},
                                {"max_concurrent", j.array->max_concurrent},
                                {"spec", r.array_spec}}
                         : json(nullptr);
  lk.unlock();
  out["partition"] = r.partition;
  if (remote) out["slurm"] = remote_ ? remote_->live(r) : json(nullptr);
  if (r.script.empty()) out["command"] = r.argv;
  else out["script"] = r.script;
  out["env"] = r.env;
  json usage = nullptr;
  if (r.cpu_seconds || j.start_time) {
    usage = json::object();
    if (j.start_time) usage["wall_seconds"] = ((j.end_time ? *j.end_time : clock_.now_ms()) - *j.start_time) / 1000.0;
    if (r.cpu_seconds) usage["cpu_seconds"] = *r.cpu_seconds;
    if (r.peak_mem_mb) usage["peak_mem_mb"] = *r.peak_mem_mb;
  }
  out["usage"] = usage;
  out["enforced"] = r.enforced;
  out["image"] = r.image ? json{{"name", r.image->name.empty() ? json(nullptr) : json(r.image->name)},
                                {"digest", r.image->digest}}
                         : json(nullptr);
  return out;
}

Result<json> Service::detail_json(db::Tx& tx, const JobRecord& rec) const {
  auto j = to_json(rec);
  j["events"] = TRY(events(tx, rec.id()));
  json ds = json::array();
  for (auto& d : TRY(job_datasets(tx, rec.id())))
    ds.push_back({{"name", d.name}, {"dataset_id", d.dataset_id}, {"version", d.number}, {"path", "/data/" + d.name}});
  j["datasets"] = ds;
  j["secrets"] = secrets::to_json(TRY(job_secrets(tx, rec.id())));  // names only, never a value
  if (auto c = TRY(job_commit(tx, rec.id())))
    j["commit"] = {{"id", c->commit}, {"ref", c->ref.empty() ? json(nullptr) : json(c->ref)}};
  else
    j["commit"] = nullptr;
  if (auto o = TRY(job_outputs(tx, rec.id()))) {
    // The capture runs as a task after the job's end: pending until it recorded the version.
    auto task = TRY(tasks::get_by_key(tx, std::string(kCaptureKind) + ":" + rec.id()));
    json capture = nullptr;
    if (task) capture = task->state == "succeeded" ? "done" : task->state == "dead" ? "failed" : "pending";
    else if (o->version) capture = "done";
    j["outputs"] = {{"dataset", o->dataset_name},
                    {"dataset_id", o->dataset_id},
                    {"paths", o->globs},
                    {"version", o->version ? json(*o->version) : json(nullptr)},
                    {"capture", capture}};
  }
  return j;
}

json Service::usage(const std::string& org_id, const std::string& kind, const std::string& subject_id) const {
  auto lk = lock();
  Millis now = clock_.now_ms();
  compute::UsageTotals totals;
  auto mine = [&](const compute::Association& a) {
    return kind == "org"     ? a.org == subject_id
           : kind == "group" ? a.org == org_id && a.group == subject_id
                             : a.org == org_id && a.user == subject_id;
  };
  int running = 0;
  for (auto& [id, j] : state_.jobs) running += j.state == JobState::kRunning && mine(j.assoc);
  for (auto& [id, j] : remote_jobs_) running += j.state == JobState::kRunning && mine(j.assoc);  // SLURM's
  if (kind == "org") totals = state_.ledger.org(subject_id, now);
  else if (kind == "group") totals = state_.ledger.group(org_id, subject_id, now);
  else totals = state_.ledger.user(subject_id, now);
  return json{{"cpu_hours", totals.allocated_cpu_hours()},
              {"cpu_hours_measured", totals.cpu_seconds / 3600.0},
              {"concurrent_jobs", running},
              {"period_start", format_rfc3339(state_.ledger.period_start_for(now))}};
}

Service::FairShareTree Service::fair_share_of(const std::string& org_id, Millis now) const {
  auto lk = lock();
  auto rows = sched_.fair_share(state_, now);
  std::vector<compute::FairShareAccount> accounts;
  compute::fill_fair_share(state_.policy.shares, rows, &accounts);  // the same rows, plus the inner nodes
  std::uint32_t org_shares = state_.policy.shares.org(org_id);
  FairShareTree out;
  for (auto& [assoc, row] : rows)
    if (assoc.org == org_id) out.users.emplace_back(std::move(row), state_.policy.shares.user(assoc));
  lk.unlock();
  out.half_life = sched_.config().usage_half_life;
  for (auto& a : accounts)
    if (a.org == org_id) out.accounts.push_back(std::move(a));
  if (out.accounts.empty()) out.accounts.push_back({false, org_id, "", org_shares, 0, 0, 0, 0, 1});  // no usage, no jobs yet
  return out;
}

bool Service::active(const std::string& id) const {
  auto lk = lock();
  auto it = state_.jobs.find(id);
  return (it != state_.jobs.end() && !compute::is_terminal(it->second.state)) || remote_jobs_.contains(id);
}

json Service::node_json() const {
  auto lk = lock();
  int pending = 0, running = 0, cpus = 0, gpus = 0;
  std::int64_t mem = 0;
  for (auto& [id, j] : state_.jobs) {
    if (j.state == JobState::kPending) ++pending;
    if (j.state == JobState::kRunning && j.allocation) {
      ++running;
      cpus += j.allocation->cpus;
      mem += j.allocation->mem_mb;
      gpus += static_cast<int>(j.allocation->gpus.size());
    }
  }
  return json{{"resources", {{"cpus", state_.node.cpus}, {"mem_mb", state_.node.mem_mb}, {"gpus", state_.node.gpus}}},
              {"allocated", {{"cpus", cpus}, {"mem_mb", mem}, {"gpus", gpus}}},
              {"jobs", {{"pending", pending}, {"running", running}}},
              {"sandbox", sandbox::to_json(sandbox::probe())}};
}

std::map<std::string, Service::Ranked> Service::priority_factors() const {
  auto lk = lock();
  std::map<std::string, Ranked> out;
  std::size_t rank = 0;
  for (auto& [id, f] : sched_.priorities(state_, clock_.now_ms())) out[id] = {f, rank++};
  return out;
}

Result<std::optional<std::string>> Service::resolve_commit(const std::string& project_id,
                                                          const std::optional<std::string>& ref) const {
  if (!settings_.resolve_commit) return std::optional<std::string>{};
  return settings_.resolve_commit(project_id, ref);
}

Result<std::optional<ImageRef>> Service::resolve_image(db::Tx& tx, const projects::Project& p,
                                                       const std::optional<std::string>& text) const {
  if (text && *text == "none") return std::optional<ImageRef>();  // the host root, asked for
  if (!settings_.resolve_image) {
    if (!text) return std::optional<ImageRef>();
    return fail(Error(ErrorCode::kUnprocessable, "invalid-image", "image: this server runs jobs on its own root only")
                    .with("field", "image"));
  }
  auto pin = settings_.resolve_image(tx, p, text ? std::string_view(*text) : std::string_view());
  // A well-formed request naming no usable image (unknown, not ready, a digest that does not
  // match, another org's): 422, the same answer whatever the reason, field "image".
  if (!pin && pin.error().code == ErrorCode::kInvalidArgument) {
    Error e = pin.error();
    e.code = ErrorCode::kUnprocessable;
    e.extra["field"] = "image";
    return fail(std::move(e));
  }
  return pin;
}

Result<bool> Service::image_in_use(const std::string& digest) const {
  return db_.read([&](db::Tx& tx) { return jobs::image_in_use(tx, digest); });
}

Result<bool> Service::dataset_in_use(const std::string& dataset_id, std::int64_t number, std::int64_t uid) const {
  return db_.read([&](db::Tx& tx) { return running_job_mounts(tx, dataset_id, number, uid); });
}

}  // namespace atrium::jobs
