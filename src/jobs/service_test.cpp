// jobs::Service with a fake executor and a ManualClock: scheduling decisions, timers and the
// request transitions, without sandboxes or real time.
#include "jobs/service.hpp"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <set>

#include "audit/audit.hpp"
#include "db/testing.hpp"
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
    Settings s;
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    s.data_dir = std::filesystem::path(::testing::TempDir()) / ("atrium_jobs_" + std::string(info->name()));
    s.node = {.cpus = 4, .mem_mb = 8192, .gpus = 0};
    auto fake = std::make_unique<FakeExecutor>();
    exec_ = fake.get();
    auto sched = compute::Scheduler::create(s.scheduler);
    ASSERT_TRUE(sched);
    svc_ = std::make_unique<Service>(*db_, clock_, rt_, std::move(*sched), s, std::move(fake));
    ASSERT_TRUE(svc_->start());
  }
  void TearDown() override {
    svc_.reset();
    rt_.stop();
  }

  JobRecord submit(SubmitRequest req) {
    req.project_id = "prj_1";
    req.org_id = "org_1";
    req.argv = {"true"};
    JobRecord rec;
    auto st = db_->write_tx([&](db::Tx& tx) -> Status {
      rec = TRY(svc_->submit(tx, alice_, req, clock_.now_ms())).jobs.front();
      return {};
    });
    EXPECT_TRUE(st) << (st ? "" : st.error().detail);
    return rec;
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

}  // namespace
}  // namespace atrium::jobs
