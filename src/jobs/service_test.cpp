// jobs::Service with a fake executor and a ManualClock: scheduling decisions, timers and the
// request transitions, without sandboxes or real time.
#include "jobs/service.hpp"

#include <gtest/gtest.h>

#include <condition_variable>
#include <fstream>
#include <mutex>
#include <set>

#include "audit/audit.hpp"
#include "db/testing.hpp"
#include "identity/orgs.hpp"
#include "identity/store.hpp"
#include "quota/quota.hpp"

namespace atrium::jobs {
namespace {

using compute::JobState;

// Records starts and stops; ends a job when the test says so, with the outcome it gives.
class FakeExecutor final : public Executor {
 public:
  Status start(const StartRequest& req) override {
    std::lock_guard lk(mu_);
    started_.insert(req.rec.id());
    changed_.notify_all();
    if (!fail_start_.empty()) return internal(fail_start_);
    return {};
  }
  Adopted adopt(const JobRecord&) override { return {.running = false, .cause = "gone"}; }
  std::optional<nlohmann::json> outcome(const JobRecord& rec) const override {
    std::lock_guard lk(mu_);
    auto it = outcomes_.find(rec.id());
    if (it == outcomes_.end()) return std::nullopt;
    return it->second;
  }
  void stop(const std::string& id) override {
    std::lock_guard lk(mu_);
    stops_.insert(id);
  }
  void shutdown() override {}

  // The job's process ends with `o`.
  void end(const std::string& id, sandbox::Outcome o) {
    {
      std::lock_guard lk(mu_);
      outcomes_[id] = sandbox::to_json(o);
    }
    exited(id, "no outcome");
  }
  // Waits (a guard against a hang, never a timing assertion) until `id` was started.
  bool wait_started(const std::string& id) {
    std::unique_lock lk(mu_);
    return changed_.wait_for(lk, std::chrono::seconds(30), [&] { return started_.contains(id); });
  }
  bool started(const std::string& id) const {
    std::lock_guard lk(mu_);
    return started_.contains(id);
  }
  bool stopped(const std::string& id) const {
    std::lock_guard lk(mu_);
    return stops_.contains(id);
  }
  void fail_starts(std::string why) {
    std::lock_guard lk(mu_);
    fail_start_ = std::move(why);
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::set<std::string> started_, stops_;
  std::map<std::string, nlohmann::json> outcomes_;
  std::string fail_start_;
};

class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = db::open_test_db();
    ASSERT_TRUE(db_);
    ASSERT_TRUE(db_->migrate("audit", audit::migrations()));
    ASSERT_TRUE(db_->migrate("identity", identity::migrations()));
    ASSERT_TRUE(db_->migrate("quota", quota::migrations()));
    ASSERT_TRUE(db_->migrate("jobs", migrations()));
    ASSERT_TRUE(db_->migrate("tasks", tasks::migrations()));
    rt_.start();
    make_service();
  }
  // A service on the test's database (again: a server restart), with remote() as its backend.
  void make_service() {
    Settings s;
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    s.data_dir = std::filesystem::path(::testing::TempDir()) / ("atrium_jobs_" + std::string(info->name()));
    s.node = {.cpus = 4, .mem_mb = 8192, .gpus = 0};
    auto fake = std::make_unique<FakeExecutor>();
    exec_ = fake.get();
    auto sched = compute::Scheduler::create(s.scheduler);
    ASSERT_TRUE(sched);
    svc_.reset();
    svc_ = std::make_unique<Service>(*db_, clock_, rt_, std::move(*sched), s, std::move(fake));
    if (Remote* r = remote()) svc_->set_remote(r);
    ASSERT_TRUE(svc_->start());
  }
  virtual Remote* remote() { return nullptr; }
  void TearDown() override {
    svc_.reset();
    rt_.stop();
  }

  Result<JobRecord> try_submit(SubmitRequest req) {
    req.project_id = "prj_1";
    if (req.org_id.empty()) req.org_id = "org_1";
    req.argv = {"true"};
    JobRecord rec;
    TRY_STATUS(db_->write_tx([&](db::Tx& tx) -> Status {
      rec = TRY(svc_->submit(tx, alice_, req, clock_.now_ms())).jobs.front();
      return {};
    }));
    return rec;
  }
  JobRecord submit(SubmitRequest req) {
    auto rec = try_submit(std::move(req));
    EXPECT_TRUE(rec) << (rec ? "" : rec.error().detail);
    return rec ? *rec : JobRecord{};
  }
  JobRecord row(const std::string& id) {
    auto r = db_->read([&](db::Tx& tx) { return get(tx, id); });
    EXPECT_TRUE(r && *r);
    return r && *r ? **r : JobRecord{};
  }
  using Verb = Result<JobRecord> (Service::*)(db::Tx&, const Actor&, const JobRecord&, Millis);
  Result<JobRecord> act(Verb verb, const std::string& id) {
    JobRecord before = row(id), after;
    TRY_STATUS(db_->write_tx([&](db::Tx& tx) -> Status {
      after = TRY((svc_.get()->*verb)(tx, alice_, before, clock_.now_ms()));
      return {};
    }));
    return after;
  }
  // Waits (a guard against a hang, never a timing assertion) until `done` holds after a commit.
  bool wait_until(const std::function<bool()>& done) {
    std::mutex mu;
    std::condition_variable cv;
    auto sub = svc_->changes().subscribe([&] {
      std::lock_guard lk(mu);
      cv.notify_all();
    });
    std::unique_lock lk(mu);
    return cv.wait_for(lk, std::chrono::seconds(30), done);
  }
  std::string reason(const std::string& id) {
    auto j = svc_->to_json(row(id));
    return j["reason"].is_null() ? "" : j["reason"].get<std::string>();
  }

  ManualClock clock_;
  async::Runtime rt_{2};
  std::unique_ptr<db::SqliteDatabase> db_;
  FakeExecutor* exec_ = nullptr;
  std::unique_ptr<Service> svc_;
  Actor alice_{.user_id = "usr_alice", .username = "alice"};
};

TEST_F(ServiceTest, SubmittedJobStartsOnThePassItsCommitKicks) {
  auto job = submit({});
  ASSERT_TRUE(exec_->wait_started(job.id()));
  EXPECT_EQ(row(job.id()).job.state, JobState::kRunning);
  EXPECT_TRUE(svc_->active(job.id()));
}

// An image pinned at submission is stored with the job and keeps its digest in use while the job
// waits; a root that cannot be found at the start fails the job (FAILED, its reason), never runs it.
TEST_F(ServiceTest, ImageIsPinnedInUseAndAMissingRootFailsTheJob) {
  const std::string digest = "sha256:" + std::string(64, 'a');
  SubmitRequest req;
  req.image = ImageRef{"busybox", digest};
  req.hold = true;
  auto job = submit(req);
  EXPECT_EQ(row(job.id()).image, (ImageRef{"busybox", digest}));
  EXPECT_EQ(svc_->to_json(row(job.id()))["image"]["digest"], digest);
  EXPECT_TRUE(*svc_->image_in_use(digest));
  EXPECT_FALSE(*svc_->image_in_use("sha256:" + std::string(64, 'b')));
  ASSERT_TRUE(act(&Service::release, job.id()));
  ASSERT_TRUE(wait_until([&] { return row(job.id()).job.state == JobState::kFailed; }));
  EXPECT_FALSE(exec_->started(job.id()));  // never on the host's root instead
  auto events = db_->read([&](db::Tx& tx) { return jobs::events(tx, job.id()); });
  ASSERT_TRUE(events);
  EXPECT_NE(events->back()["cause"].get<std::string>().find("image busybox@" + digest), std::string::npos);
  EXPECT_FALSE(*svc_->image_in_use(digest));
}

TEST_F(ServiceTest, EndWithOutcomeRecordsTheFinalState) {
  auto ok = submit({});
  auto bad = submit({});
  ASSERT_TRUE(exec_->wait_started(ok.id()));
  ASSERT_TRUE(exec_->wait_started(bad.id()));
  exec_->end(ok.id(), sandbox::Outcome{.kind = "exited", .exit_code = 0});
  exec_->end(bad.id(), sandbox::Outcome{.kind = "exited", .exit_code = 3});
  EXPECT_EQ(row(ok.id()).job.state, JobState::kCompleted);
  auto b = row(bad.id());
  EXPECT_EQ(b.job.state, JobState::kFailed);
  EXPECT_EQ(b.job.exit_code, 3);
  EXPECT_FALSE(svc_->active(ok.id()));
}

TEST_F(ServiceTest, AStartThatFailsEndsTheJobNodeFail) {
  exec_->fail_starts("cannot check out");
  auto job = submit({});
  ASSERT_TRUE(exec_->wait_started(job.id()));
  // The launch on the pool records the end: a committed change.
  ASSERT_TRUE(wait_until([&] { return row(job.id()).job.state != JobState::kRunning; }));
  EXPECT_EQ(row(job.id()).job.state, JobState::kNodeFail);
}

TEST_F(ServiceTest, BeginTimeIsHonouredWhenTheClockReachesIt) {
  SubmitRequest req;
  req.begin_time = clock_.now_ms() + 3'600'000;
  auto job = submit(req);
  ASSERT_TRUE(svc_->schedule_now());
  EXPECT_FALSE(exec_->started(job.id()));
  EXPECT_EQ(reason(job.id()), "BeginTime");
  // Nothing kicks the periodic task now: only the clock's jump past the begin time wakes it.
  clock_.advance_ms(3'600'000);
  ASSERT_TRUE(exec_->wait_started(job.id()));
  EXPECT_EQ(row(job.id()).job.state, JobState::kRunning);
}

TEST_F(ServiceTest, CancelOfAPendingJobEndsItAtOnce) {
  SubmitRequest req;
  req.hold = true;
  auto job = submit(req);
  auto out = act(&Service::cancel, job.id());
  ASSERT_TRUE(out) << out.error().detail;
  EXPECT_EQ(out->job.state, JobState::kCancelled);
  EXPECT_EQ(row(job.id()).job.state, JobState::kCancelled);
  ASSERT_TRUE(svc_->schedule_now());
  EXPECT_FALSE(exec_->started(job.id()));
  EXPECT_FALSE(act(&Service::cancel, job.id()));  // ended already: 409
}

TEST_F(ServiceTest, CancelOfARunningJobAsksTheExecutorToStopIt) {
  auto job = submit({});
  ASSERT_TRUE(exec_->wait_started(job.id()));
  auto out = act(&Service::cancel, job.id());
  ASSERT_TRUE(out) << out.error().detail;
  EXPECT_EQ(out->stop_requested, "cancel");
  EXPECT_EQ(row(job.id()).job.state, JobState::kRunning);  // until its process is gone
  EXPECT_TRUE(exec_->stopped(job.id()));
  exec_->end(job.id(), sandbox::Outcome{.kind = "cancelled", .exit_code = 143});
  EXPECT_EQ(row(job.id()).job.state, JobState::kCancelled);
}

TEST_F(ServiceTest, HeldJobWaitsUntilReleased) {
  SubmitRequest req;
  req.hold = true;
  auto job = submit(req);
  ASSERT_TRUE(svc_->schedule_now());
  EXPECT_FALSE(exec_->started(job.id()));
  EXPECT_EQ(reason(job.id()), "Held");
  EXPECT_FALSE(act(&Service::hold, job.id()));  // held already
  ASSERT_TRUE(act(&Service::release, job.id()));
  ASSERT_TRUE(exec_->wait_started(job.id()));
}

TEST_F(ServiceTest, HoldKeepsAPendingJobFromStarting) {
  SubmitRequest big;
  big.resources.cpus = 4;
  auto first = submit(big);
  ASSERT_TRUE(exec_->wait_started(first.id()));
  auto second = submit(big);  // waits for the CPUs
  ASSERT_TRUE(act(&Service::hold, second.id()));
  exec_->end(first.id(), sandbox::Outcome{.kind = "exited", .exit_code = 0});
  ASSERT_TRUE(svc_->schedule_now());
  EXPECT_FALSE(exec_->started(second.id()));
  EXPECT_EQ(reason(second.id()), "Held");
  ASSERT_TRUE(act(&Service::release, second.id()));
  ASSERT_TRUE(exec_->wait_started(second.id()));
}

// ------------------------------------------------------------------------------ remote partitions

// Partitions "gpu" and "cpu" of cluster "lab", "far" of another cluster (only org_2 may use it).
class FakeRemote final : public Remote {
 public:
  std::optional<PartitionInfo> partition(const std::string& name) const override {
    if (name == "gpu") return PartitionInfo{"gpu", "lab", "gpu", {.max_cpus = 8, .max_mem_mb = 16384, .max_gpus = 2, .max_time = 7'200'000}};
    if (name == "cpu") return PartitionInfo{"cpu", "lab", "batch", {}};
    if (name == "far") return PartitionInfo{"far", "other", "batch", {}};
    return std::nullopt;
  }
  std::vector<PartitionInfo> partitions() const override { return {*partition("gpu"), *partition("cpu"), *partition("far")}; }
  Result<bool> usable(db::Tx&, const PartitionInfo& p, const std::string& org_id) const override {
    return p.name != "far" || org_id == "org_2";
  }
  Status submitted(db::Tx&, const std::vector<JobRecord>& jobs, const std::string& account) override {
    std::lock_guard lk(mu_);
    if (account == "forbidden") return fail(ErrorCode::kPermissionDenied, "account-forbidden", "not the org's");
    for (auto& j : jobs) handed_.push_back(j.id() + "#" + std::to_string(j.job.requeue_count));
    return {};
  }
  Status control(db::Tx&, const JobRecord& job, Control c) override {
    std::lock_guard lk(mu_);
    controls_.push_back(job.id() + ":" + std::to_string(static_cast<int>(c)));
    return {};
  }
  nlohmann::json live(const JobRecord& job) const override { return {{"cluster", "lab"}, {"job", job.id()}}; }
  std::vector<std::string> handed() const {
    std::lock_guard lk(mu_);
    return handed_;
  }
  std::vector<std::string> controls() const {
    std::lock_guard lk(mu_);
    return controls_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> handed_, controls_;
};

class RemoteTest : public ServiceTest {
 protected:
  Remote* remote() override { return &remote_; }
  JobRecord submit_on(const std::string& partition, SubmitRequest req = {}) {
    req.partition = partition;
    return submit(req);
  }
  Status observe(const std::string& id, Observation o) { return svc_->observe_remote(id, o); }
  std::size_t event_count(const std::string& id) {
    auto e = db_->read([&](db::Tx& tx) { return jobs::events(tx, id); });
    return e ? e->size() : 0;
  }
  std::size_t job_count() {
    auto l = db_->read([&](db::Tx& tx) { return list(tx, ListFilter{.limit = 1000}); });
    return l ? l->size() : 0;
  }
  Observation running_since(Millis start) {
    return Observation{.state = JobState::kRunning, .slurm_state = "RUNNING", .start_time = start, .nodes = "node1"};
  }
  Observation ended(JobState s, std::string slurm, Millis start, Millis end, int code) {
    return Observation{.state = s, .slurm_state = std::move(slurm), .start_time = start, .end_time = end, .exit_code = code};
  }
  FakeRemote remote_;
};

TEST_F(RemoteTest, ARemoteJobIsHandedOverAndNeverPlacedLocally) {
  auto job = submit_on("gpu");
  auto r = row(job.id());
  EXPECT_EQ(r.partition, "gpu");
  EXPECT_EQ(r.job.state, JobState::kPending);
  EXPECT_EQ(remote_.handed(), std::vector<std::string>{job.id() + "#0"});
  ASSERT_TRUE(svc_->schedule_now());
  EXPECT_FALSE(exec_->started(job.id()));
  EXPECT_EQ(row(job.id()).job.state, JobState::kPending);
  auto j = svc_->to_json(r);
  EXPECT_EQ(j["partition"], "gpu");
  EXPECT_EQ(j["slurm"]["cluster"], "lab");
  EXPECT_TRUE(svc_->active(job.id()));
  // A local job beside it gets the whole node: the remote one holds none of it.
  SubmitRequest big;
  big.resources.cpus = 4;
  auto local = submit(big);
  ASSERT_TRUE(exec_->wait_started(local.id()));
  EXPECT_EQ(svc_->to_json(row(local.id()))["partition"], "local");
  EXPECT_TRUE(svc_->to_json(row(local.id()))["slurm"].is_null() || !svc_->to_json(row(local.id())).contains("slurm"));
}

TEST_F(RemoteTest, BadPartitionsAccountsAndLimitsChangeNothing) {
  auto type_of = [&](SubmitRequest req) {
    auto r = try_submit(std::move(req));
    return r ? std::string("ok") : r.error().type + "/" + r.error().extra.value("field", "");
  };
  EXPECT_EQ(type_of({.partition = "nope"}), "unknown-partition/partition");
  SubmitRequest acct;
  acct.account = "lab_acct";
  EXPECT_EQ(type_of(acct), "account-not-applicable/account");  // local
  SubmitRequest cpus;
  cpus.partition = "gpu";
  cpus.resources.cpus = 9;
  EXPECT_EQ(type_of(cpus), "exceeds-partition/resources.cpus");
  SubmitRequest time;
  time.partition = "gpu";
  time.resources.time_limit = 7'200'001;
  EXPECT_EQ(type_of(time), "exceeds-partition/resources.time_limit_s");
  SubmitRequest refused;
  refused.partition = "gpu";
  refused.account = "forbidden";  // the backend refuses: the whole submission rolls back
  EXPECT_EQ(type_of(refused), "account-forbidden/");
  EXPECT_EQ(job_count(), 0u);
  EXPECT_TRUE(remote_.handed().empty());
  ASSERT_TRUE(svc_->schedule_now());  // the rolled-back memory reloads
  EXPECT_TRUE(submit_on("gpu").partition == "gpu");
}

TEST_F(RemoteTest, TheOrgDefaultPartitionAppliesWhenASubmissionNamesNone) {
  ASSERT_TRUE(db_->write_tx([&](db::Tx& tx) -> Status {
    TRY(set_org_compute(tx, "org_1", "cpu", 0));
    return {};
  }));
  EXPECT_EQ(submit({}).partition, "cpu");
  EXPECT_EQ(submit_on("local").partition, "local");
}

TEST_F(RemoteTest, DependenciesStayWithinOneScheduler) {
  auto local = submit_on("local");
  auto gpu = submit_on("gpu");
  auto dep = [&](const std::string& partition, const std::string& target) {
    SubmitRequest req;
    req.partition = partition;
    req.dependency = "afterok:" + target;
    auto r = try_submit(req);
    return r ? std::string("ok") : r.error().type;
  };
  EXPECT_EQ(dep("gpu", local.id()), "invalid-dependency");
  EXPECT_EQ(dep("local", gpu.id()), "invalid-dependency");
  EXPECT_EQ(dep("far", gpu.id()), "invalid-dependency");  // another cluster
  EXPECT_EQ(dep("cpu", gpu.id()), "ok");                  // the same cluster
}

TEST_F(RemoteTest, ObservationsMoveTheJobAndItsEndCountsInTheLedger) {
  SubmitRequest req;
  req.resources.cpus = 2;
  auto job = submit_on("gpu", req);
  Millis t0 = clock_.now_ms();
  ASSERT_TRUE(observe(job.id(), {.state = JobState::kPending, .slurm_state = "PENDING", .reason = "Priority",
                                 .estimated_start = t0 + 60'000}));
  auto j = svc_->to_json(row(job.id()));
  EXPECT_EQ(j["reason"], "Priority");
  EXPECT_EQ(j["estimated_start"], format_rfc3339(t0 + 60'000));
  ASSERT_TRUE(observe(job.id(), running_since(t0 + 1000)));
  auto r = row(job.id());
  EXPECT_EQ(r.job.state, JobState::kRunning);
  EXPECT_EQ(r.job.start_time, t0 + 1000);
  ASSERT_TRUE(r.job.allocation);
  EXPECT_EQ(r.job.allocation->cpus, 2);
  std::size_t events = event_count(job.id());
  ASSERT_TRUE(observe(job.id(), running_since(t0 + 1000)));  // the same state: nothing new
  EXPECT_EQ(event_count(job.id()), events);
  EXPECT_EQ(svc_->usage("org_1", "org", "org_1")["concurrent_jobs"], 1);
  ASSERT_TRUE(observe(job.id(), ended(JobState::kCompleted, "COMPLETED", t0 + 1000, t0 + 1000 + 1'800'000, 0)));
  r = row(job.id());
  EXPECT_EQ(r.job.state, JobState::kCompleted);
  EXPECT_EQ(r.job.exit_code, 0);
  EXPECT_FALSE(svc_->active(job.id()));
  // 2 CPUs x 30 minutes, learnt at run time.
  EXPECT_DOUBLE_EQ(svc_->usage("org_1", "org", "org_1")["cpu_hours"].get<double>(), 1.0);
  EXPECT_EQ(svc_->usage("org_1", "org", "org_1")["concurrent_jobs"], 0);
  events = event_count(job.id());
  ASSERT_TRUE(observe(job.id(), running_since(t0 + 1000)));  // late: ignored
  ASSERT_TRUE(observe(job.id(), ended(JobState::kFailed, "FAILED", t0, t0 + 5, 3)));
  EXPECT_EQ(row(job.id()).job.state, JobState::kCompleted);
  EXPECT_EQ(event_count(job.id()), events);
  // ... and after a restart, from the rows.
  make_service();
  EXPECT_DOUBLE_EQ(svc_->usage("org_1", "org", "org_1")["cpu_hours"].get<double>(), 1.0);
}

TEST_F(RemoteTest, AnEndReadsTheRunsOutcomeFirstElseSlurmsState) {
  auto oom = submit_on("gpu");
  auto lost = submit_on("gpu");
  Millis t0 = clock_.now_ms();
  auto dir = svc_->run_dir(row(oom.id()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "outcome.json") << sandbox::to_json(sandbox::Outcome{.kind = "oom", .exit_code = 137}).dump();
  ASSERT_TRUE(observe(oom.id(), running_since(t0)));
  ASSERT_TRUE(observe(oom.id(), ended(JobState::kFailed, "FAILED", t0, t0 + 10, 137)));
  EXPECT_EQ(row(oom.id()).job.state, JobState::kOutOfMemory);
  // Seen only once it ended (between two polls): it starts first, then ends with SLURM's word.
  ASSERT_TRUE(observe(lost.id(), ended(JobState::kNodeFail, "BOOT_FAIL", t0, t0 + 10, 0)));
  auto r = row(lost.id());
  EXPECT_EQ(r.job.state, JobState::kNodeFail);
  EXPECT_EQ(r.job.start_time, t0);
  auto events = db_->read([&](db::Tx& tx) { return jobs::events(tx, lost.id()); });
  ASSERT_TRUE(events);
  EXPECT_EQ((*events)[1]["to"], "RUNNING");
  EXPECT_NE(events->back()["cause"].get<std::string>().find("BOOT_FAIL"), std::string::npos);
  // Cancelled in SLURM before it ran (a start time equal to its end): never started here.
  auto cancelled = submit_on("gpu");
  ASSERT_TRUE(observe(cancelled.id(), ended(JobState::kCancelled, "CANCELLED", t0 + 10, t0 + 10, 0)));
  r = row(cancelled.id());
  EXPECT_EQ(r.job.state, JobState::kCancelled);
  EXPECT_FALSE(r.job.start_time);
}

TEST_F(RemoteTest, CancelHoldAndRequeueRecordWhatIsCertainAndTellTheBackend) {
  auto pending = submit_on("gpu");
  auto out = act(&Service::cancel, pending.id());
  ASSERT_TRUE(out) << out.error().detail;
  EXPECT_EQ(row(pending.id()).job.state, JobState::kCancelled);
  auto held = submit_on("gpu");
  ASSERT_TRUE(act(&Service::hold, held.id()));
  EXPECT_TRUE(row(held.id()).job.held);
  auto held_at_submission = submit_on("gpu", {.hold = true});
  // An observation that agrees changes nothing; one without the hold releases it (SLURM's truth).
  ASSERT_TRUE(observe(held.id(), {.state = JobState::kPending, .held = true}));
  EXPECT_TRUE(row(held.id()).job.held);
  ASSERT_TRUE(act(&Service::release, held.id()));
  auto running = submit_on("gpu");
  Millis t0 = clock_.now_ms();
  ASSERT_TRUE(observe(running.id(), running_since(t0)));
  out = act(&Service::cancel, running.id());
  ASSERT_TRUE(out);
  EXPECT_EQ(out->stop_requested, "cancel");
  EXPECT_EQ(row(running.id()).job.state, JobState::kRunning);  // until SLURM says it ended
  ASSERT_TRUE(observe(running.id(), ended(JobState::kCancelled, "CANCELLED", t0, t0 + 100, 0)));
  EXPECT_EQ(row(running.id()).job.state, JobState::kCancelled);
  auto again = submit_on("gpu");
  ASSERT_TRUE(observe(again.id(), running_since(t0)));
  EXPECT_FALSE(act(&Service::requeue, held.id()));  // still pending
  out = act(&Service::requeue, again.id());  // PENDING at once, a new run; the old one's end is not reported
  ASSERT_TRUE(out);
  auto r = row(again.id());
  EXPECT_EQ(r.job.state, JobState::kPending);
  EXPECT_EQ(r.job.requeue_count, 1);
  EXPECT_EQ(svc_->run_dir(r).filename(), "run1");
  auto late = running_since(t0);
  late.run = 0;  // the old run, seen before the requeue reached SLURM
  ASSERT_TRUE(observe(again.id(), late));
  EXPECT_EQ(row(again.id()).job.state, JobState::kPending);
  auto c = [](const JobRecord& j, Control k) { return j.id() + ":" + std::to_string(static_cast<int>(k)); };
  EXPECT_EQ(remote_.controls(),
            (std::vector<std::string>{c(pending, Control::kCancel), c(held, Control::kHold),
                                      c(held_at_submission, Control::kHold), c(held, Control::kRelease),
                                      c(running, Control::kCancel), c(again, Control::kRequeue)}));
}

TEST_F(RemoteTest, ARestartNeitherAdoptsNorFailsRemoteJobs) {
  auto remote = submit_on("gpu");
  auto local = submit_on("local");
  ASSERT_TRUE(exec_->wait_started(local.id()));
  ASSERT_TRUE(observe(remote.id(), running_since(clock_.now_ms())));
  make_service();  // the fake executor finds no local supervisor: NODE_FAIL
  EXPECT_EQ(row(local.id()).job.state, JobState::kNodeFail);
  EXPECT_EQ(row(remote.id()).job.state, JobState::kRunning);
  ASSERT_TRUE(svc_->schedule_now());
  EXPECT_FALSE(exec_->started(remote.id()));
  EXPECT_TRUE(svc_->active(remote.id()));
  ASSERT_TRUE(observe(remote.id(), ended(JobState::kCompleted, "COMPLETED", clock_.now_ms(), clock_.now_ms() + 3'600'000, 0)));
  EXPECT_DOUBLE_EQ(svc_->usage("org_1", "user", "usr_alice")["cpu_hours"].get<double>(), 1.0);
}

TEST_F(RemoteTest, CpuHourQuotasCheckRemoteSubmissions) {
  quota::Registry reg;
  std::string org;
  auto put = db_->write_tx([&](db::Tx& tx) -> Status {
    Actor admin{.user_id = "usr_admin"};
    org = TRY(identity::create_org(tx, admin, "lab", "Lab", 1)).id;
    TRY(quota::put(tx, reg, admin, {org, "org", org}, {.cpu_hours = 1}, 1));
    return {};
  });
  ASSERT_TRUE(put) << put.error().detail;
  SubmitRequest req;
  req.org_id = org;
  req.partition = "cpu";
  req.resources.cpus = 2;  // 2 CPU-hours at most: more than the quota
  auto r = try_submit(req);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().type, "quota-exceeded");
  req.resources.cpus = 1;
  EXPECT_TRUE(try_submit(req));
}

TEST_F(RemoteTest, PrepareRemoteWritesTheRunForTheNodesView) {
  SubmitRequest req;
  req.script = "echo hi";
  auto job = submit_on("gpu", req);
  auto run = svc_->prepare_remote(job.id(), "/shared/atrium");
  ASSERT_TRUE(run) << run.error().detail;
  EXPECT_EQ(run->run_dir, svc_->run_dir(row(job.id())));
  ASSERT_EQ(run->exec_args.size(), 5u);
  EXPECT_EQ(run->exec_args[0], "exec");
  EXPECT_EQ(run->exec_args[2], "/shared/atrium/jobs/" + job.id() + "/run0/spec.json");
  EXPECT_FALSE(run->wants_secrets);
  EXPECT_TRUE(run->tunnel_socket.empty());
  std::ifstream in(run->run_dir / "spec.json");
  auto spec = nlohmann::json::parse(in);
  EXPECT_EQ(spec["workspace"], "/shared/atrium/jobs/" + job.id() + "/workspace");
  EXPECT_TRUE(std::filesystem::exists(run->run_dir / "in" / "job.sh"));
  auto secrets = svc_->remote_secrets(job.id());
  ASSERT_TRUE(secrets);
  EXPECT_TRUE(secrets->empty());
  EXPECT_FALSE(svc_->prepare_remote(submit_on("local").id(), ""));  // not a remote job
}

TEST_F(RemoteTest, PartitionsAreListedForTheOrgsThatMayUseThem) {
  auto names = [&](const std::vector<std::string>& orgs) {
    auto j = db_->read([&](db::Tx& tx) { return svc_->partitions_json(tx, orgs, ""); });
    std::vector<std::string> out;
    if (j)
      for (auto& p : (*j)["items"]) out.push_back(p["name"]);
    return out;
  };
  EXPECT_EQ(names({"org_1"}), (std::vector<std::string>{"local", "gpu", "cpu"}));
  EXPECT_EQ(names({"org_2"}), (std::vector<std::string>{"local", "gpu", "cpu", "far"}));
  auto check = [&](const std::string& p) {
    auto st = db_->read([&](db::Tx& tx) { return svc_->check_partition(tx, p, "org_1"); });
    return st ? std::string("ok") : st.error().type;
  };
  EXPECT_EQ(check("gpu"), "ok");
  EXPECT_EQ(check("local"), "ok");
  EXPECT_EQ(check("far"), "partition-forbidden");
  EXPECT_EQ(check("nope"), "unknown-partition");
}

}  // namespace
}  // namespace atrium::jobs
