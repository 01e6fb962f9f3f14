#include "jobs/service.hpp"

#include <spdlog/spdlog.h>

#include "core/io_thread.hpp"
#include "jobs/executor_local.hpp"
#include "quota/quota.hpp"

namespace atrium::jobs {
namespace {

namespace fs = std::filesystem;
using compute::JobState;

constexpr Millis kTick = 30'000;  // a pass at least this often: priorities age
constexpr const char* kImageUnavailable = "image-unavailable";  // a start failed for the job's image

}  // namespace

Service::Service(db::Database& db, const Clock& clock, async::Runtime& rt, compute::Scheduler scheduler,
                 Settings settings)
    : Service(db, clock, rt, std::move(scheduler), settings, std::make_unique<LocalExecutor>(rt, clock, settings)) {}

Service::Service(db::Database& db, const Clock& clock, async::Runtime& rt, compute::Scheduler scheduler,
                 Settings settings, std::unique_ptr<Executor> executor)
    : db_(db),
      clock_(clock),
      rt_(rt),
      sched_(std::move(scheduler)),
      settings_(std::move(settings)),
      executor_(std::move(executor)),
      periodic_(rt, clock, kTick, [this] { return run_pass(); }) {
  state_.node = settings_.node;
  state_.policy.qos["normal"] = compute::Qos{};
  executor_->on_exit([this](const std::string& id, const std::string& cause) { on_exit(id, cause); });
}

Service::~Service() { stop(); }

fs::path Service::run_dir(const JobRecord& r) const { return run_dir_of(settings_.data_dir, r); }

std::unique_lock<std::mutex> Service::lock() const {
  expect_blocking_allowed("jobs::Service::mu_");
  return std::unique_lock(mu_);
}

Status Service::start() {
  std::error_code ec;
  fs::create_directories(settings_.data_dir / "jobs", ec);
  if (ec) return internal("cannot create " + (settings_.data_dir / "jobs").string() + ": " + ec.message());
  TRY_STATUS(db_.write_tx([&](db::Tx& tx) -> Status {
    auto lk = lock();
    Millis now = clock_.now_ms();
    std::vector<std::string> running;
    TRY_STATUS(load(tx, now, running));
    for (auto& id : running) TRY_STATUS(adopt(tx, id, now));
    return {};
  }));
  periodic_.start();  // its first pass runs at once
  return {};
}

void Service::stop() {
  if (stopped_.exchange(true)) return;
  periodic_.stop();             // a pass in progress ends first; it queued its launches
  launches_.close_and_wait();   // each has started its job or ended it
  executor_->shutdown();        // supervisors keep running: the next start re-adopts them
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
  std::map<std::string, RemoteLive> remote;
  for (auto& r : active) {
    if (r.partition != kLocalPartition) {
      // SLURM runs it: never placed, adopted or ended here (what SLURM said last is kept).
      if (compute::is_terminal(r.job.state)) continue;
      auto& live = remote[r.id()];
      if (auto it = remote_jobs_.find(r.id()); it != remote_jobs_.end()) live = it->second;
      live.assoc = r.job.assoc;
      live.state = r.job.state;
      continue;
    }
    if (r.job.state == JobState::kRunning) running.push_back(r.id());
    fresh.jobs.emplace(r.id(), std::move(r.job));
  }
  // Fair share from the history (a few half-lives back) and the quota ledger of this period.
  Millis half = sched_.config().usage_half_life;
  Millis since = std::min(fresh.ledger.period_start_for(now), half > 0 ? now - 8 * half : Millis{0});
  for (auto& r : TRY(load_finished_since(tx, since))) {
    // Quotas count every partition's jobs; fair share is the local scheduler's (SLURM has its own).
    if (r.partition == kLocalPartition) sched_.charge(fresh.usage, r.job);
    Millis wall = *r.job.end_time - *r.job.start_time;
    int cpus = r.job.allocation ? r.job.allocation->cpus : r.job.request.cpus;
    fresh.ledger.add(r.job.assoc, cpus, wall,
                     compute::JobUsage{r.cpu_seconds.value_or(0), r.peak_mem_mb.value_or(0)}, *r.job.end_time);
  }
  state_ = std::move(fresh);
  remote_jobs_ = std::move(remote);
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
  for (auto& job_id : TRY(job_or_tasks(tx, id))) {
    if (state_.jobs.contains(job_id)) continue;
    auto rec = TRY(get(tx, job_id));
    if (rec && rec->partition == kLocalPartition) state_.jobs.emplace(rec->id(), rec->job);
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
    TRY_STATUS(record(tx, it->second, t, false));
  }
  return {};
}

Status Service::record(db::Tx& tx, const compute::Job& after, const compute::Transition& t, bool announce) {
  if (announce)
    tx.on_end([this](bool committed) {
      if (committed) changes_.notify();
    });
  TRY_STATUS(record_transition(tx, after, t));
  if (settings_.on_end && compute::is_terminal(t.to))
    if (auto notify = TRY(job_notify(tx, t.job)); !notify.empty()) TRY_STATUS(settings_.on_end(tx, after, t, notify));
  return {};
}

// ------------------------------------------------------------------------------ scheduling

void Service::poke() {
  {
    std::lock_guard lk(pace_mu_);
    dirty_ = true;
    // The pass in progress, or the one already due at paced_until_, takes this event in.
    if (in_pass_ || clock_.now_ms() < paced_until_) return;
  }
  periodic_.kick();
}

Status Service::schedule_now() {
  Millis ignored = 0;
  return pass(ignored);
}

Millis Service::run_pass() {
  {
    std::lock_guard lk(pace_mu_);
    in_pass_ = true;
    dirty_ = false;
    paced_until_ = 0;
  }
  Stopwatch took;
  Millis wake = 0;
  if (auto st = pass(wake); !st) spdlog::error("scheduling pass failed: {}", st.error().detail);
  passes_.notify();
  Millis spent = took.millis();
  std::lock_guard lk(pace_mu_);
  in_pass_ = false;
  if (!dirty_) return wake;
  // A pass holds the database writer: under a burst of events, passes take at most half the
  // time (like SLURM's sched_min_interval), so submissions keep flowing with a long queue. The
  // pacing is in real time: a clock that only jumps (a test's) gets the next pass at once.
  if (spent <= 1 || clock_.jumps()) {
    periodic_.kick();
    return wake;
  }
  paced_until_ = clock_.now_ms() + spent;
  return wake > 0 ? std::min(wake, paced_until_) : paced_until_;
}

Status Service::pass(Millis& wake) {
  std::vector<Launch> launches;
  TRY_STATUS(db_.write_tx([&](db::Tx& tx) -> Status {
    auto lk = lock();
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
  }));
  // Committed RUNNING: each start is prepared on the pool (a checkout, dataset copies), so a slow
  // one holds up neither the next pass nor the other starts. A stop requested meanwhile reaches
  // the job once its supervisor runs (Executor::stop).
  for (auto& l : launches) {
    if (!launches_.enter()) break;  // stop() waits for the pass first: not reached
    async::asio::post(rt_.pool(), [this, l = std::move(l)] {
      launch(l);
      launches_.leave();
    });
  }
  return {};
}

void Service::launch(const Launch& l) {
  if (auto st = start_run(l); !st) {
    const std::string& why = st.error().detail;
    spdlog::error("job {}: {}", l.rec.id(), why);
    // The job's own fault (its image is gone, a secret it asked for is gone or refused): FAILED,
    // it never runs without them. The node's: NODE_FAIL.
    bool own = st.error().type == kImageUnavailable || st.error().type.starts_with("secret-");
    auto e = own ? fail_start(l.rec.id(), why) : end_job(l.rec.id(), std::nullopt, why);
    if (!e) spdlog::error("job {}: {}", l.rec.id(), e.error().detail);
  }
}

Status Service::start_run(const Launch& l) {
  return executor_->start(TRY(start_request(l.rec, l.alloc, true)));
}

// What a run needs besides the job, read from the database: the commit, the datasets, the image's
// root (never the host root in its place), and at a launch the secrets' values.
Result<StartRequest> Service::start_request(const JobRecord& rec, const compute::Allocation& alloc,
                                            bool with_secrets) {
  StartRequest req{rec, alloc, std::nullopt, {}};
  // The workspace holds the project's code at the commit pinned at submission.
  auto pin = db_.read([&](db::Tx& tx) { return job_commit(tx, rec.id()); });
  if (!pin) return internal("reading the job's commit: " + pin.error().detail);
  req.commit = *pin;
  auto mounts = db_.read([&](db::Tx& tx) { return job_datasets(tx, rec.id()); });
  if (!mounts) return internal("reading the job's datasets: " + mounts.error().detail);
  req.datasets = std::move(*mounts);
  // The image pinned at submission, or nothing: never the host root in its place.
  if (rec.image) {
    const auto& img = *rec.image;
    std::string what = "image " + (img.name.empty() ? img.digest : img.name + "@" + img.digest);
    if (!settings_.image_root)
      return fail(ErrorCode::kFailedPrecondition, kImageUnavailable, what + ": this server has no images");
    auto root = settings_.image_root(img.digest);
    if (!root) return fail(ErrorCode::kFailedPrecondition, kImageUnavailable, what + " is not available: " + root.error().detail);
    std::error_code ec;
    if (!fs::is_directory(*root, ec))
      return fail(ErrorCode::kFailedPrecondition, kImageUnavailable, what + " is not available: its root is gone");
    req.rootfs = root->string();
  }
  if (!with_secrets) return req;
  // Secrets: resolved now (never at submission), held in memory until the sandbox has them.
  auto wanted = db_.read([&](db::Tx& tx) { return job_secrets(tx, rec.id()); });
  if (!wanted) return internal("reading the job's secrets: " + wanted.error().detail);
  if (!wanted->empty()) {
    if (!settings_.resolve_secrets) return internal("this server cannot resolve secrets");
    auto values = db_.read([&](db::Tx& tx) { return settings_.resolve_secrets(tx, rec, *wanted); });
    if (!values) return std::unexpected(values.error());
    req.secrets = std::move(*values);
  }
  return req;
}

}  // namespace atrium::jobs
