#include "jobs/service.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include <spdlog/spdlog.h>

#include "audit/audit.hpp"
#include "core/crypto.hpp"
#include "core/dir.hpp"
#include "core/ids.hpp"
#include "quota/quota.hpp"
#include "sandbox/sandbox.hpp"

namespace atrium::jobs {
namespace {

namespace fs = std::filesystem;
using compute::Job;
using compute::JobState;
using nlohmann::json;

constexpr Millis kTick = 30'000;  // a pass at least this often: priorities age

int pidfd_open(int pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

std::optional<json> read_json_file(const fs::path& p) {
  std::ifstream in(p);
  if (!in) return std::nullopt;
  try {
    return json::parse(in);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

Status write_file(const fs::path& p, std::string_view data, mode_t mode) {
  int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return internal("cannot create " + p.string() + ": " + std::strerror(errno));
  bool ok = ::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size());
  ::fchmod(fd, mode);
  ::close(fd);
  if (!ok) return internal("cannot write " + p.string());
  return {};
}

// How the sandbox's outcome ends the job.
compute::JobEnd job_end(const std::optional<json>& outcome, const std::string& stop_requested,
                        const std::string& fallback_cause) {
  compute::JobEnd end;
  if (!outcome) {
    end.state = JobState::kNodeFail;
    end.exit_code = 0;
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

json ms_or_null(const std::optional<Millis>& t) { return t ? json(format_rfc3339(*t)) : json(nullptr); }

}  // namespace

Service::Service(db::Database& db, const Clock& clock, compute::Scheduler scheduler, Settings settings)
    : db_(db), clock_(clock), sched_(std::move(scheduler)), settings_(std::move(settings)) {
  state_.node = settings_.node;
  state_.policy.qos["normal"] = compute::Qos{};
}

Service::~Service() { stop(); }

fs::path Service::run_dir(const JobRecord& r) const {
  return settings_.data_dir / "jobs" / r.id() / ("run" + std::to_string(r.job.requeue_count));
}

Status Service::start() {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (epoll_fd_ < 0 || stop_fd_ < 0) return internal("epoll/eventfd: " + std::string(std::strerror(errno)));
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = stop_fd_;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, stop_fd_, &ev);
  std::error_code ec;
  fs::create_directories(settings_.data_dir / "jobs", ec);
  if (ec) return internal("cannot create " + (settings_.data_dir / "jobs").string() + ": " + ec.message());
  TRY_STATUS(db_.write_tx([&](db::Tx& tx) -> Status {
    std::lock_guard lk(mu_);
    Millis now = clock_.now_ms();
    std::vector<std::string> running;
    TRY_STATUS(load(tx, now, running));
    for (auto& id : running) TRY_STATUS(adopt(tx, id, now));
    return {};
  }));
  loop_thread_ = std::thread([this] { loop(); });
  monitor_thread_ = std::thread([this] { monitor(); });
  poke();
  return {};
}

void Service::stop() {
  {
    std::lock_guard lk(wake_mu_);
    if (stopping_ && !loop_thread_.joinable()) return;
    stopping_ = true;
  }
  wake_cv_.notify_all();
  if (stop_fd_ >= 0) {
    std::uint64_t one = 1;
    (void)::write(stop_fd_, &one, sizeof one);
  }
  if (loop_thread_.joinable()) loop_thread_.join();
  if (monitor_thread_.joinable()) monitor_thread_.join();
  // Supervisors keep running: the next start re-adopts them.
  std::lock_guard lk(mu_);
  for (auto& [id, r] : running_)
    if (r.pidfd >= 0) ::close(r.pidfd);
  running_.clear();
  by_fd_.clear();
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
  if (stop_fd_ >= 0) ::close(stop_fd_);
  epoll_fd_ = stop_fd_ = -1;
}

void Service::poke() {
  {
    std::lock_guard lk(wake_mu_);
    dirty_ = true;
  }
  wake_cv_.notify_one();
}

void Service::undo_on_rollback(db::Tx& tx, bool schedule) {
  tx.on_end([this, schedule](bool committed) {
    if (!committed) reload_ = true;
    if (schedule || !committed) poke();
  });
}

// ------------------------------------------------------------------------------ state loading

Status Service::load(db::Tx& tx, Millis now, std::vector<std::string>& running) {
  compute::ClusterState fresh;
  fresh.node = settings_.node;
  fresh.policy = state_.policy;
  auto active = TRY(load_active(tx));
  for (auto& r : active) {
    if (r.job.state == JobState::kRunning) running.push_back(r.id());
    fresh.jobs.emplace(r.id(), std::move(r.job));
  }
  // Fair share from the history (a few half-lives back) and the quota ledger of this period.
  Millis half = sched_.config().usage_half_life;
  Millis since = std::min(fresh.ledger.period_start_for(now), half > 0 ? now - 8 * half : Millis{0});
  for (auto& r : TRY(load_finished_since(tx, since))) {
    sched_.charge(fresh.usage, r.job);
    Millis wall = *r.job.end_time - *r.job.start_time;
    int cpus = r.job.allocation ? r.job.allocation->cpus : r.job.request.cpus;
    fresh.ledger.add(r.job.assoc, cpus, wall,
                     compute::JobUsage{r.cpu_seconds.value_or(0), r.peak_mem_mb.value_or(0)}, *r.job.end_time);
  }
  state_ = std::move(fresh);
  policy_stamp_ = -1;
  return refresh_policy(tx);
}

Status Service::refresh_policy(db::Tx& tx) {
  auto stamp = TRY(quota::change_stamp(tx));
  if (stamp == policy_stamp_) return {};
  policy_stamp_ = stamp;
  auto quotas = TRY(quota::list_all(tx));
  state_.policy.user_limits.clear();
  state_.policy.org_limits.clear();
  state_.policy.group_limits.clear();
  auto tighten = [](compute::Limits& l, const quota::Limits& q) {
    if (q.cpu_hours) {
      double h = static_cast<double>(*q.cpu_hours);
      l.max_cpu_hours = l.max_cpu_hours ? std::min(*l.max_cpu_hours, h) : h;
    }
    if (q.concurrent_jobs) {
      int n = static_cast<int>(*q.concurrent_jobs);
      l.max_running_jobs = l.max_running_jobs ? std::min(*l.max_running_jobs, n) : n;
    }
  };
  for (auto& q : quotas) {
    if (!q.limits.cpu_hours && !q.limits.concurrent_jobs) continue;
    // A user with quotas in several orgs gets the tightest of each.
    const auto& [org, kind, id] = q.subject;
    if (kind == "user") tighten(state_.policy.user_limits[id], q.limits);
    else if (kind == "group") tighten(state_.policy.group_limits[id], q.limits);
    else if (kind == "org") tighten(state_.policy.org_limits[id], q.limits);
  }
  return {};
}

Status Service::ensure_loaded(db::Tx& tx, const std::string& id) {
  if (state_.jobs.contains(id)) return {};
  auto rows = TRY(tx.query("SELECT id FROM jobs WHERE id = ? OR array_id = ?", {id, id}));
  for (auto& row : rows) {
    if (state_.jobs.contains(row.str(0))) continue;
    auto rec = TRY(get(tx, row.str(0)));
    if (rec) state_.jobs.emplace(rec->id(), rec->job);
  }
  return {};
}

Status Service::persist(db::Tx& tx, const std::vector<compute::Transition>& ts) {
  if (!ts.empty())
    tx.on_end([this](bool committed) {
      if (committed) changes_.notify();
    });
  for (auto& t : ts) {
    auto it = state_.jobs.find(t.job);
    if (it == state_.jobs.end()) return internal("transition of a job not in memory: " + t.job);
    TRY_STATUS(record_transition(tx, it->second, t));
  }
  return {};
}

// ------------------------------------------------------------------------------ requests

Result<Submitted> Service::submit(db::Tx& tx, const Actor& actor, const SubmitRequest& req, Millis now) {
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
      auto row = TRY(tx.query_one("SELECT org_id FROM jobs WHERE id = ? OR array_id = ? LIMIT 1", {d.target, d.target}));
      if (!row || row->str(0) != req.org_id)
        return fail(Error(ErrorCode::kInvalidArgument, "invalid-dependency", "no job " + d.target + " to depend on")
                        .with("field", "dependency"));
    }
  }
  std::optional<compute::ArraySpec> spec;
  if (!req.array.empty()) spec = TRY(compute::parse_array_spec(req.array, sched_.config().array_limits));
  std::int64_t uid = TRY(uid_for(tx, actor.user_id, settings_.uid_base));

  std::lock_guard lk(mu_);
  TRY_STATUS(refresh_policy(tx));
  for (auto& d : tmpl.dependency.items)
    if (!d.target.empty()) TRY_STATUS(ensure_loaded(tx, d.target));
  Submitted out;
  std::vector<compute::Transition> ts;
  std::string base = new_id("job", now);
  if (spec) {
    out.array_id = base;
    tmpl.id = base;  // expand_array names every task's array after the template's id
    std::vector<compute::JobId> ids;
    ids.reserve(spec->indices.size());
    for (auto i : spec->indices) ids.push_back(base + "_" + std::to_string(i));
    ts = TRY(sched_.submit_array(state_, tmpl, *spec, ids, now));
  } else {
    tmpl.id = base;
    ts.push_back(TRY(sched_.submit(state_, tmpl, now)));
  }
  // From here on the memory holds the new jobs: a failure must reload it from the database.
  // Held jobs cannot start, so submitting them needs no scheduling pass.
  undo_on_rollback(tx, !req.hold);
  for (auto& t : ts) {
    JobRecord rec;
    rec.job = state_.jobs.at(t.job);
    rec.project_id = req.project_id;
    rec.array_spec = spec ? compute::format_array_spec(*spec) : "";
    rec.argv = req.argv;
    rec.script = req.script;
    rec.env = req.env;
    rec.uid = uid;
    if (req.hold) {
      auto h = TRY(sched_.hold(state_, t.job, now, "held at submission"));
      rec.job = state_.jobs.at(t.job);
      rec.job.held = false;  // the row starts unheld; the hold is its second event
      TRY_STATUS(insert(tx, rec));
      TRY_STATUS(persist(tx, h));
      rec.job = state_.jobs.at(t.job);
    } else {
      TRY_STATUS(insert(tx, rec));
    }
    TRY_STATUS(insert_datasets(tx, rec.id(), req.datasets));
    if (req.outputs) TRY_STATUS(insert_outputs(tx, rec.id(), *req.outputs));
    if (req.commit) TRY_STATUS(insert_commit(tx, rec.id(), *req.commit));
    out.jobs.push_back(std::move(rec));
  }
  json summary{{"project_id", req.project_id},
               {"resources", compute::describe(req.resources)},
               {"tasks", out.jobs.size()}};
  if (!req.name.empty()) summary["name"] = req.name;
  if (req.commit) summary["commit"] = req.commit->commit;
  TRY_STATUS(audit::record(tx, actor,
                           {req.org_id, "job.submit", "job", spec ? out.array_id : out.jobs.front().id(), summary},
                           now));
  return out;
}

// Once the stop request is committed, SIGTERM to the job's supervisor (or, when it is not
// watched yet, to the one watch() registers next).
void Service::stop_after_commit(db::Tx& tx, const std::string& id) {
  tx.on_end([this, id](bool committed) {
    if (!committed) return;
    std::lock_guard l(mu_);
    stop_marks_.insert(id);
    if (auto it = running_.find(id); it != running_.end()) ::kill(it->second.pid, SIGTERM);
  });
}

Result<JobRecord> Service::cancel(db::Tx& tx, const Actor& actor, const JobRecord& job, Millis now) {
  std::lock_guard lk(mu_);
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

// A job another module drives (an environment's) is held, released and requeued only by it.
static Status refuse_if_managed(db::Tx& tx, const JobRecord& job, const char* verb) {
  auto by = TRY(managed_by(tx, job.id()));
  if (by.empty()) return {};
  return fail(Error(ErrorCode::kFailedPrecondition, "job-managed",
                    "job " + job.id() + " belongs to an " + by + "; it cannot be " + verb +
                        " on its own (stop the " + by + ", or cancel the job, which ends it)")
                  .with("managed_by", by));
}

// hold and release: a pending job's held flag, one event and one audit record.
Result<JobRecord> Service::toggle_hold(db::Tx& tx, const Actor& actor, const JobRecord& job, Millis now, bool hold) {
  TRY_STATUS(refuse_if_managed(tx, job, hold ? "held" : "released"));
  std::lock_guard lk(mu_);
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
  std::lock_guard lk(mu_);
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

// ------------------------------------------------------------------------------ reads

json Service::to_json(const JobRecord& r) const {
  const Job* live = nullptr;
  std::unique_lock lk(mu_);
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
           {"etag", "\"v" + std::to_string(r.version) + "\""}};
  if (j.state == JobState::kPending) {
    out["priority"] = j.priority;
    out["estimated_start"] = ms_or_null(j.estimated_start);
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
  return out;
}

json Service::usage(const std::string& org_id, const std::string& kind, const std::string& subject_id) const {
  std::lock_guard lk(mu_);
  Millis now = clock_.now_ms();
  compute::UsageTotals totals;
  int running = 0;
  for (auto& [id, j] : state_.jobs) {
    if (j.state != JobState::kRunning) continue;
    bool mine = kind == "org"     ? j.assoc.org == subject_id
                : kind == "group" ? j.assoc.org == org_id && j.assoc.group == subject_id
                                  : j.assoc.org == org_id && j.assoc.user == subject_id;
    running += mine;
  }
  if (kind == "org") totals = state_.ledger.org(subject_id, now);
  else if (kind == "group") totals = state_.ledger.group(org_id, subject_id, now);
  else totals = state_.ledger.user(subject_id, now);
  return json{{"cpu_hours", totals.allocated_cpu_hours()},
              {"cpu_hours_measured", totals.cpu_seconds / 3600.0},
              {"concurrent_jobs", running},
              {"period_start", format_rfc3339(state_.ledger.period_start_for(now))}};
}

bool Service::active(const std::string& id) const {
  std::lock_guard lk(mu_);
  auto it = state_.jobs.find(id);
  return it != state_.jobs.end() && !compute::is_terminal(it->second.state);
}

json Service::node_json() const {
  std::lock_guard lk(mu_);
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

// ------------------------------------------------------------------------------ scheduling

Status Service::schedule_now() { return pass(); }

void Service::loop() {
  std::unique_lock lk(wake_mu_);
  while (!stopping_) {
    Millis now = clock_.now_ms();
    Millis due = next_wakeup_ > 0 ? std::min(next_wakeup_, now + kTick) : now + kTick;
    if (!dirty_ && due > now)
      wake_cv_.wait_for(lk, std::chrono::milliseconds(due - now), [&] { return stopping_ || dirty_; });
    if (stopping_) break;
    dirty_ = false;
    lk.unlock();
    auto t0 = std::chrono::steady_clock::now();
    if (auto st = pass(); !st) spdlog::error("scheduling pass failed: {}", st.error().detail);
    // A pass holds the database writer: under a burst of events, passes take at most half the
    // time (like SLURM's sched_min_interval), so submissions keep flowing with a long queue.
    auto took = std::chrono::steady_clock::now() - t0;
    lk.lock();
    if (took > std::chrono::milliseconds(1))
      wake_cv_.wait_for(lk, took, [&] { return stopping_; });
  }
}

Status Service::pass() {
  std::vector<Launch> launches;
  Millis wake = 0;
  auto st = db_.write_tx([&](db::Tx& tx) -> Status {
    std::lock_guard lk(mu_);
    Millis now = clock_.now_ms();
    if (reload_.exchange(false)) {
      std::vector<std::string> ignored;
      TRY_STATUS(load(tx, now, ignored));
    }
    TRY_STATUS(refresh_policy(tx));
    auto result = sched_.schedule(state_, now);
    auto ts = TRY(sched_.apply(state_, result));
    tx.on_end([this](bool committed) {
      if (!committed) reload_ = true;
    });
    TRY_STATUS(persist(tx, ts));
    for (auto& s : result.starts) {
      auto rec = TRY(get(tx, s.job));
      if (rec) launches.push_back({std::move(*rec), s.allocation});
    }
    wake = result.next_wakeup.value_or(0);
    compute::prune_finished(state_);
    return {};
  });
  {
    std::lock_guard lk(wake_mu_);
    next_wakeup_ = wake;
  }
  TRY_STATUS(st);
  for (auto& l : launches) launch(l);
  return {};
}

// ------------------------------------------------------------------------------ the executor

void Service::launch(const Launch& l) {
  const JobRecord& r = l.rec;
  fs::path dir = run_dir(r);
  auto fail_launch = [&](const std::string& why) {
    spdlog::error("job {}: {}", r.id(), why);
    if (auto st = end_job(r.id(), std::nullopt, why); !st) spdlog::error("job {}: {}", r.id(), st.error().detail);
  };
  // <data>/jobs/<id>/ and its run directories are root's (0711). The workspace beside them
  // belongs to the job's uid, which may have left anything in it in an earlier run (a requeue):
  // every step goes through directory fds (core/dir.hpp) and never follows a link, and the
  // workspace is made anew, root-only while the code is written into it.
  const Owner tenant{static_cast<std::uint32_t>(r.uid), static_cast<std::uint32_t>(r.uid)};
  auto jobs_root = Dir::open_or_create(settings_.data_dir / "jobs", 0711);
  if (!jobs_root) return fail_launch("cannot open the jobs directory: " + jobs_root.error().detail);
  auto job_dir = jobs_root->make_dirs(r.id(), 0711);
  if (!job_dir) return fail_launch("cannot create the job's directory: " + job_dir.error().detail);
  auto run = job_dir->make_fresh(dir.filename().string(), 0711);
  if (!run) return fail_launch("cannot create the run directory: " + run.error().detail);
  auto in = run->make_dirs("in", 0755);
  if (!in) return fail_launch("cannot create the run directory: " + in.error().detail);
  auto wsd = job_dir->make_fresh("workspace", 0700);
  if (!wsd) return fail_launch("cannot make the workspace anew: " + wsd.error().detail);
  fs::path ws = dir.parent_path() / "workspace";
  // The workspace holds the project's code at the commit pinned at submission.
  auto pin = db_.read([&](db::Tx& tx) { return job_commit(tx, r.id()); });
  if (!pin) return fail_launch("reading the job's commit: " + pin.error().detail);
  if (*pin) {
    if (!settings_.checkout) return fail_launch("this server cannot check out code");
    if (auto st = settings_.checkout(r.project_id, (*pin)->commit, ws, r.uid); !st)
      return fail_launch("checking out " + (*pin)->commit + ": " + st.error().detail);
  }
  if (auto st = wsd->chown(tenant); !st) return fail_launch("cannot hand the workspace to uid " + std::to_string(r.uid));
  if (auto st = wsd->chmod(0700); !st) return fail_launch(st.error().detail);

  sandbox::Spec spec;
  spec.id = r.id();
  spec.workspace = ws.string();
  spec.uid = static_cast<std::uint32_t>(r.uid);
  spec.gid = static_cast<std::uint32_t>(r.uid);
  spec.gpus = l.alloc.gpus;
  spec.hostname = "job";
  spec.cgroup_parent = settings_.cgroup_parent;
  spec.stdout_path = (dir / "stdout").string();
  spec.stderr_path = (dir / "stderr").string();
  spec.limits.memory_bytes = l.alloc.mem_mb << 20;
  spec.limits.cpus = l.alloc.cpus;
  spec.limits.pids = settings_.max_pids;
  spec.limits.wall_ms = r.job.request.time_limit;
  spec.limits.kill_grace_ms = settings_.kill_grace;
  spec.limits.output_bytes = settings_.max_output_bytes;
  if (!r.script.empty()) {
    std::string text = r.script.rfind("#!", 0) == 0 ? r.script : "#!/bin/sh\n" + r.script;
    if (auto st = in->write_file("job.sh", text, 0755); !st) return fail_launch(st.error().detail);
    spec.mounts.push_back({(dir / "in").string(), "/atrium", false});
    spec.argv = {"/atrium/job.sh"};
  } else {
    spec.argv = r.argv;
  }
  // Dataset versions, read-only at /data/<name>.
  auto mounts = db_.read([&](db::Tx& tx) { return job_datasets(tx, r.id()); });
  if (!mounts) return fail_launch("reading the job's datasets: " + mounts.error().detail);
  for (auto& m : *mounts) {
    if (!settings_.dataset_dir) return fail_launch("this server cannot mount datasets");
    auto src = settings_.dataset_dir(m.dataset_id, m.number, r.uid);
    if (!src) return fail_launch("dataset " + m.name + " version " + std::to_string(m.number) + ": " + src.error().detail);
    spec.mounts.push_back({*src, "/data/" + m.name, false});
  }
  spec.env = r.env;
  spec.env["ATRIUM_JOB_ID"] = r.id();
  spec.env["ATRIUM_PROJECT_ID"] = r.project_id;
  if (*pin) {
    spec.env["ATRIUM_COMMIT"] = (*pin)->commit;
    spec.env["ATRIUM_REF"] = (*pin)->ref;
  }
  spec.env["ATRIUM_CPUS"] = std::to_string(l.alloc.cpus);
  spec.env["SLURM_JOB_ID"] = r.id();
  spec.env["SLURM_CPUS_PER_TASK"] = std::to_string(l.alloc.cpus);
  spec.env["OMP_NUM_THREADS"] = std::to_string(l.alloc.cpus);
  if (r.job.array) {
    spec.env["ATRIUM_ARRAY_ID"] = r.job.array->array_id;
    spec.env["ATRIUM_ARRAY_TASK_ID"] = std::to_string(r.job.array->index);
    spec.env["SLURM_ARRAY_JOB_ID"] = r.job.array->array_id;
    spec.env["SLURM_ARRAY_TASK_ID"] = std::to_string(r.job.array->index);
  }
  if (settings_.prepare)
    if (auto st = settings_.prepare(r, spec); !st) return fail_launch("preparing the sandbox: " + st.error().detail);
  if (auto st = run->write_file("spec.json", sandbox::to_json(spec).dump(), 0600); !st)
    return fail_launch(st.error().detail);

  std::string spec_arg = (dir / "spec.json").string(), dir_arg = dir.string(), log = (dir / "supervisor.log").string();
  std::vector<char*> argv{const_cast<char*>(settings_.exe.c_str()), const_cast<char*>("exec"),
                          const_cast<char*>("--spec"),             spec_arg.data(),
                          const_cast<char*>("--state-dir"),        dir_arg.data(),
                          nullptr};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  // Nothing of the server's (listening sockets, the database, other jobs' pidfds) may live on
  // in a supervisor that outlives it.
  posix_spawn_file_actions_addclosefrom_np(&fa, 3);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t mask;
  sigemptyset(&mask);
  // Stop signals start blocked: a cancel before `atrium exec` blocks them itself must not kill it.
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&mask, sig);
  posix_spawnattr_setsigmask(&attr, &mask);
  sigset_t dfl;
  sigfillset(&dfl);
  posix_spawnattr_setsigdefault(&attr, &dfl);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  char* env[] = {nullptr};
  pid_t pid = 0;
  int rc = ::posix_spawn(&pid, settings_.exe.c_str(), &fa, &attr, argv.data(), env);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return fail_launch("cannot start the job's supervisor: " + std::string(std::strerror(rc)));
  int fd = pidfd_open(pid);
  if (fd < 0) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return fail_launch("pidfd_open: " + std::string(std::strerror(errno)));
  }
  watch(r.id(), Running{pid, fd, true});
}

void Service::watch(const std::string& id, Running r) {
  std::lock_guard lk(mu_);
  watch_locked(id, r);
}

void Service::watch_locked(const std::string& id, Running r) {
  running_[id] = r;
  by_fd_[r.pidfd] = id;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = r.pidfd;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, r.pidfd, &ev);
  if (stop_marks_.contains(id)) ::kill(r.pid, SIGTERM);
}

void Service::monitor() {
  epoll_event evs[64];
  for (;;) {
    int n = ::epoll_wait(epoll_fd_, evs, 64, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      spdlog::error("job monitor: epoll_wait: {}", std::strerror(errno));
      return;
    }
    for (int i = 0; i < n; ++i) {
      int fd = evs[i].data.fd;
      if (fd == stop_fd_) return;
      std::string id;
      {
        std::lock_guard lk(mu_);
        auto it = by_fd_.find(fd);
        if (it == by_fd_.end()) continue;
        id = it->second;
      }
      on_exit(id);
    }
  }
}

void Service::on_exit(const std::string& id) {
  Running r;
  {
    std::lock_guard lk(mu_);
    auto it = running_.find(id);
    if (it == running_.end()) return;
    r = it->second;
    running_.erase(it);
    by_fd_.erase(r.pidfd);
    stop_marks_.erase(id);
  }
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, r.pidfd, nullptr);
  ::close(r.pidfd);
  int status = 0;
  std::string cause = "the job's supervisor ended without an outcome";
  if (r.child && ::waitpid(r.pid, &status, 0) == r.pid) {
    if (WIFSIGNALED(status)) cause += " (killed by signal " + std::to_string(WTERMSIG(status)) + ")";
    else cause += " (exit " + std::to_string(WEXITSTATUS(status)) + ")";
  }
  sandbox::cleanup(id, settings_.cgroup_parent);  // nothing to do when the supervisor cleaned up
  if (auto st = end_job(id, std::nullopt, cause); !st) spdlog::error("job {}: {}", id, st.error().detail);
}

Result<std::optional<std::string>> Service::resolve_commit(const std::string& project_id,
                                                          const std::optional<std::string>& ref) const {
  if (!settings_.resolve_commit) return std::optional<std::string>{};
  return settings_.resolve_commit(project_id, ref);
}

Result<bool> Service::dataset_in_use(const std::string& dataset_id, std::int64_t number, std::int64_t uid) const {
  return db_.read([&](db::Tx& tx) -> Result<bool> {
    auto r = TRY(tx.query_one("SELECT 1 FROM job_datasets d JOIN jobs j ON j.id = d.job_id WHERE d.dataset_id = ? "
                              "AND d.number = ? AND j.uid = ? AND j.state = 'RUNNING' LIMIT 1",
                              {dataset_id, number, uid}));
    return r.has_value();
  });
}

Status Service::end_job(const std::string& id, const std::optional<json>& given, const std::string& fallback) {
  // Declared outputs of a job whose process ran: stored as blobs first (outside the database
  // lock; a crash before the end is recorded captures them again after the re-adoption), then
  // recorded as a dataset version in the transaction that ends the job.
  struct Captured {
    OutputsSpec spec;
    std::vector<data::ManifestEntry> entries;
    std::string error;
    JobRecord rec;
    std::vector<DatasetMount> inputs;
    std::optional<CommitPin> commit;
  };
  std::optional<Captured> cap;
  // Read once: capturing outputs asks first whether the process ran, the end then records it.
  std::optional<std::optional<json>> outcome;
  auto outcome_file = [&](const JobRecord& r) -> const std::optional<json>& {
    if (!outcome) outcome = given ? given : read_json_file(run_dir(r) / "outcome.json");
    return *outcome;
  };
  if (settings_.capture_outputs) {
    auto found = db_.read([&](db::Tx& tx) -> Result<std::optional<Captured>> {
      auto rec = TRY(get(tx, id));
      if (!rec) return std::optional<Captured>();
      auto spec = TRY(job_outputs(tx, id));
      if (!spec) return std::optional<Captured>();
      return std::optional<Captured>(Captured{*spec, {}, "", *rec, TRY(job_datasets(tx, id)), TRY(job_commit(tx, id))});
    });
    if (found && *found && outcome_file((*found)->rec)) {
      cap = std::move(**found);
      data::StorageOwner owner{cap->rec.org_id(), cap->rec.job.assoc.group, cap->rec.user_id()};
      auto entries = settings_.capture_outputs(run_dir(cap->rec).parent_path() / "workspace", cap->rec.uid,
                                               cap->spec.globs, owner);
      if (entries) cap->entries = std::move(*entries);
      else cap->error = entries.error().detail;
    }
  }
  auto st = db_.write_tx([&](db::Tx& tx) -> Status {
    std::lock_guard lk(mu_);
    auto it = state_.jobs.find(id);
    if (it == state_.jobs.end() || it->second.state != JobState::kRunning) return {};
    auto rec = TRY(get(tx, id));
    if (!rec) return {};
    undo_on_rollback(tx);
    TRY_STATUS(record_end(tx, *rec, outcome_file(*rec), fallback, clock_.now_ms()));
    if (!cap) return {};
    auto ds = TRY(data::get_dataset(tx, cap->spec.dataset_id));
    if (!ds) return {};  // the dataset was deleted meanwhile
    const Job& j = state_.jobs.at(id);
    json inputs = json::array();
    for (auto& d : cap->inputs) inputs.push_back({{"name", d.name}, {"dataset_id", d.dataset_id}, {"version", d.number}});
    json provenance = {{"source", "job"},
                       {"job_id", id},
                       {"state", compute::state_name(j.state)},
                       {"exit_code", j.exit_code ? json(*j.exit_code) : json(nullptr)},
                       {"command", rec->script.empty() ? json(rec->argv) : json(nullptr)},
                       {"script_sha256", rec->script.empty() ? json(nullptr) : json(crypto::sha256_hex(rec->script))},
                       {"inputs", inputs},
                       {"globs", cap->spec.globs},
                       {"commit", cap->commit ? json(cap->commit->commit) : json(nullptr)},
                       {"ref", cap->commit ? json(cap->commit->ref) : json(nullptr)},
                       {"image", "host"}};  // the host's /usr, read-only
    if (!cap->error.empty()) provenance["capture_error"] = cap->error;
    Actor system{.user_id = rec->user_id(), .username = "job " + id, .request_id = id};
    TRY(data::add_version(tx, system, *ds, cap->error.empty() ? cap->entries : std::vector<data::ManifestEntry>{},
                          "outputs of job " + id, provenance, clock_.now_ms()));
    return {};
  });
  // The plaintext of the datasets it mounted lives only while a job of its uid runs with them.
  if (st && settings_.release_dataset) {
    auto mounts = db_.read([&](db::Tx& tx) -> Result<std::pair<std::int64_t, std::vector<DatasetMount>>> {
      auto rec = TRY(get(tx, id));
      if (!rec || rec->job.state == JobState::kRunning) return std::pair<std::int64_t, std::vector<DatasetMount>>{};
      return std::pair{rec->uid, TRY(job_datasets(tx, id))};
    });
    if (!mounts) spdlog::error("job {}: {}", id, mounts.error().detail);
    else
      for (auto& m : mounts->second)
        if (auto rs = settings_.release_dataset(m.dataset_id, m.number, mounts->first); !rs)
          spdlog::error("job {}: removing the copy of dataset {} version {}: {}", id, m.dataset_id, m.number,
                        rs.error().detail);
  }
  return st;
}

Status Service::adopt(db::Tx& tx, const std::string& id, Millis now) {
  auto rec = TRY(get(tx, id));
  if (!rec) return {};
  fs::path dir = run_dir(*rec);
  // The supervisor holds an exclusive lock on <run>/lock while it lives.
  int lock = ::open((dir / "lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  bool alive = lock >= 0 && ::flock(lock, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  std::optional<json> sup = read_json_file(dir / "supervisor.json");
  // A supervisor that has just taken its lock writes supervisor.json as soon as the job runs.
  for (int i = 0; alive && !sup && i < 200; ++i) {
    ::usleep(10'000);
    sup = read_json_file(dir / "supervisor.json");
  }
  if (alive && sup && sup->contains("pid")) {
    int pid = (*sup)["pid"].get<int>();
    int fd = pidfd_open(pid);
    if (fd >= 0) {
      ::close(lock);
      if (!rec->stop_requested.empty()) stop_marks_.insert(id);  // re-sent by watch_locked
      watch_locked(id, Running{pid, fd, false});
      spdlog::info("job {}: re-adopted its running supervisor (pid {})", id, pid);
      return {};
    }
  }
  // Gone (or never started): the lock is ours now, and a supervisor that starts late finds the
  // run abandoned and does not run the job.
  if (lock >= 0) {
    (void)write_file(dir / "abandoned", "", 0600);
    ::close(lock);
  }
  if (int n = sandbox::cleanup(id, settings_.cgroup_parent); n > 0)
    spdlog::info("job {}: removed {} cgroup directories its supervisor left behind", id, n);
  return record_end(tx, *rec, read_json_file(dir / "outcome.json"),
                    alive ? "the job's supervisor could not be found again after a server restart"
                          : "the job's process was gone after a server restart",
                    now);
}

// A RUNNING job's process has ended: its outcome (or, without one, NODE_FAIL with `fallback`)
// becomes the end transition (or a requeue, when one was asked for) and its measurements.
Status Service::record_end(db::Tx& tx, const JobRecord& rec, const std::optional<json>& outcome,
                           const std::string& fallback, Millis now) {
  auto end = job_end(outcome, rec.stop_requested, fallback);
  compute::Transition t;
  if (rec.stop_requested == "requeue") t = TRY(sched_.requeue(state_, rec.id(), now, "requeued", end.usage));
  else t = TRY(sched_.finish(state_, rec.id(), end, now));
  TRY_STATUS(persist(tx, t));
  json enforced = outcome && outcome->contains("enforced") ? (*outcome)["enforced"] : json(nullptr);
  return set_measurements(tx, rec.id(), end.usage, enforced);
}

}  // namespace atrium::jobs
