#include "jobs/store.hpp"

#include <gtest/gtest.h>

#include <set>

#include "db/testing.hpp"

namespace atrium::jobs {
namespace {

using compute::JobState;

JobRecord sample(const std::string& id) {
  JobRecord r;
  r.job.id = id;
  r.job.name = "align";
  r.job.assoc = {"org_a", "grp_1", "usr_1"};
  r.job.qos = "normal";
  r.job.request = {.cpus = 4, .mem_mb = 8192, .gpus = 1, .time_limit = 7'200'000};
  r.job.submit_time = 1'700'000'000'000;
  r.job.begin_time = 1'700'000'100'000;
  r.job.dependency = *compute::parse_dependency("afterok:job_a:job_b,singleton");
  r.job.nice = 5;
  r.project_id = "prj_1";
  r.argv = {"python3", "train.py", "--lr", "0.1"};
  r.env = {{"SEED", "42"}};
  r.uid = 2'000'001;
  return r;
}

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = db::open_test_db();
    ASSERT_TRUE(db_->migrate("jobs", migrations()));
  }
  std::unique_ptr<db::SqliteDatabase> db_;
};

TEST_F(StoreTest, InsertThenGetRoundTrips) {
  auto in = sample("job_1");
  ASSERT_TRUE(db_->write_tx([&](db::Tx& tx) { return insert(tx, in); }));
  auto out = db_->read([&](db::Tx& tx) { return get(tx, "job_1"); });
  ASSERT_TRUE(out && *out);
  const auto& r = **out;
  EXPECT_EQ(r.job.name, "align");
  EXPECT_EQ(r.job.assoc, in.job.assoc);
  EXPECT_EQ(r.job.request.cpus, 4);
  EXPECT_EQ(r.job.request.mem_mb, 8192);
  EXPECT_EQ(r.job.request.gpus, 1);
  EXPECT_EQ(r.job.request.time_limit, 7'200'000);
  EXPECT_EQ(r.job.begin_time, in.job.begin_time);
  EXPECT_EQ(r.job.dependency, in.job.dependency);
  EXPECT_EQ(r.job.nice, 5);
  EXPECT_EQ(r.argv, in.argv);
  EXPECT_EQ(r.env, in.env);
  EXPECT_EQ(r.uid, 2'000'001);
  EXPECT_EQ(r.job.state, JobState::kPending);
  EXPECT_FALSE(r.job.array);
}

// The event stream's sequence: every write takes the next number; a job shows once, at its latest.
TEST_F(StoreTest, ChangesGrowInCommitOrderAndFilter) {
  auto a = sample("job_a");
  auto b = sample("job_b");
  b.project_id = "prj_2";
  b.job.assoc.user = "usr_2";
  ASSERT_TRUE(db_->write_tx([&](db::Tx& tx) { return insert(tx, a); }));
  ASSERT_TRUE(db_->write_tx([&](db::Tx& tx) { return insert(tx, b); }));
  auto seqs = [&](ChangeFilter f) {
    std::vector<std::pair<std::string, std::int64_t>> out;
    auto rows = db_->read([&](db::Tx& tx) { return changed_since(tx, f); });
    EXPECT_TRUE(rows);
    for (auto& c : *rows) out.emplace_back(c.rec.id(), c.seq);
    return out;
  };
  using V = std::vector<std::pair<std::string, std::int64_t>>;
  EXPECT_EQ(seqs({}), (V{{"job_a", 1}, {"job_b", 2}}));
  ASSERT_TRUE(db_->write_tx([&](db::Tx& tx) { return set_stop_requested(tx, "job_a", "cancel"); }));
  EXPECT_EQ(seqs({}), (V{{"job_b", 2}, {"job_a", 3}}));
  EXPECT_EQ(seqs({.after = 2}), (V{{"job_a", 3}}));
  EXPECT_EQ(seqs({.project_id = "prj_2"}), (V{{"job_b", 2}}));
  EXPECT_EQ(seqs({.user_id = "usr_1"}), (V{{"job_a", 3}}));
  auto last = db_->read([&](db::Tx& tx) { return last_change(tx); });
  ASSERT_TRUE(last);
  EXPECT_EQ(*last, 3);
}

TEST_F(StoreTest, TransitionsUpdateTheRowAndAppendEvents) {
  auto rec = sample("job_1");
  ASSERT_TRUE(db_->write_tx([&](db::Tx& tx) { return insert(tx, rec); }));
  compute::Job j = rec.job;
  auto start = compute::apply_event(j, compute::JobEvent::kStart, 1'700'000'200'000, "scheduled");
  ASSERT_TRUE(start);
  j.allocation = compute::Allocation{4, 8192, {2}};
  ASSERT_TRUE(db_->write_tx([&](db::Tx& tx) { return record_transition(tx, j, *start); }));
  auto end = compute::apply_event(j, compute::JobEvent::kFail, 1'700'000'300'000, "exit 3");
  ASSERT_TRUE(end);
  j.exit_code = 3;
  end->exit_code = 3;
  ASSERT_TRUE(db_->write_tx([&](db::Tx& tx) { return record_transition(tx, j, *end); }));
  ASSERT_TRUE(db_->write_tx([&](db::Tx& tx) {
    return set_measurements(tx, "job_1", {12.5, 300}, nlohmann::json{{"memory", "cgroup-v1"}});
  }));

  auto out = db_->read([&](db::Tx& tx) { return get(tx, "job_1"); });
  ASSERT_TRUE(out && *out);
  EXPECT_EQ((*out)->job.state, JobState::kFailed);
  EXPECT_EQ((*out)->job.exit_code, 3);
  ASSERT_TRUE((*out)->job.allocation);
  EXPECT_EQ((*out)->job.allocation->gpus, std::vector<int>{2});
  EXPECT_EQ((*out)->cpu_seconds, 12.5);
  EXPECT_EQ((*out)->enforced["memory"], "cgroup-v1");
  auto ev = db_->read([&](db::Tx& tx) { return events(tx, "job_1"); });
  ASSERT_TRUE(ev);
  ASSERT_EQ(ev->size(), 3u);
  EXPECT_EQ((*ev)[0]["to"], "PENDING");
  EXPECT_EQ((*ev)[1]["to"], "RUNNING");
  EXPECT_EQ((*ev)[2]["to"], "FAILED");
  EXPECT_EQ((*ev)[2]["exit_code"], 3);
  EXPECT_EQ((*ev)[2]["cause"], "exit 3");
}

TEST_F(StoreTest, TransitionOfAnUnknownJobIsAnError) {
  auto rec = sample("job_x");
  auto t = compute::apply_event(rec.job, compute::JobEvent::kHold, 1, "held");
  ASSERT_TRUE(t);
  auto st = db_->write_tx([&](db::Tx& tx) { return record_transition(tx, rec.job, *t); });
  EXPECT_FALSE(st);
}

TEST_F(StoreTest, LoadActiveBringsTheFinishedJobsThatPendingOnesDependOn) {
  auto done = sample("job_a");
  done.job.dependency = {};
  auto other = sample("job_z");  // finished, nobody depends on it
  other.job.dependency = {};
  auto waiting = sample("job_w");
  waiting.job.dependency = *compute::parse_dependency("afterok:job_a");
  ASSERT_TRUE(db_->write_tx([&](db::Tx& tx) -> Status {
    TRY_STATUS(insert(tx, done));
    TRY_STATUS(insert(tx, other));
    TRY_STATUS(insert(tx, waiting));
    TRY(tx.exec("UPDATE jobs SET state = 'COMPLETED', start_ms = 1, end_ms = 2 WHERE id IN ('job_a', 'job_z')"));
    return {};
  }));
  auto active = db_->read([&](db::Tx& tx) { return load_active(tx); });
  ASSERT_TRUE(active);
  std::set<std::string> ids;
  for (auto& r : *active) ids.insert(r.id());
  EXPECT_EQ(ids, (std::set<std::string>{"job_a", "job_w"}));
}

TEST_F(StoreTest, UidsAreStablePerUserAndDistinct) {
  auto a = db_->write([&](db::Tx& tx) { return uid_for(tx, "usr_a", 2'000'000); });
  auto b = db_->write([&](db::Tx& tx) { return uid_for(tx, "usr_b", 2'000'000); });
  auto a2 = db_->write([&](db::Tx& tx) { return uid_for(tx, "usr_a", 2'000'000); });
  ASSERT_TRUE(a && b && a2);
  EXPECT_EQ(*a, 2'000'000);
  EXPECT_EQ(*b, 2'000'001);
  EXPECT_EQ(*a2, *a);
}

// The health gauges' figures: stuck running (past the limit plus grace), stuck pending (not held,
// longer than 10x the last day's mean wait and at least an hour), pending.
TEST_F(StoreTest, QueueFiguresFindStuckJobs) {
  const Millis now = 1'700'010'000'000;
  auto job = [&](const std::string& id, JobState st, Millis submit, std::optional<Millis> start) {
    JobRecord r = sample(id);
    r.job.begin_time.reset();
    r.job.dependency = {};
    r.job.state = st;
    r.job.submit_time = submit;
    r.job.start_time = start;
    r.job.reason = st == JobState::kPending ? compute::PendingReason::kPriority : compute::PendingReason::kNone;
    if (st == JobState::kCompleted) r.job.end_time = now - 3'600'000;
    return r;
  };
  std::vector<JobRecord> jobs = {
      job("job_p_old", JobState::kPending, now - 10'000'000, std::nullopt),     // stuck
      job("job_p_new", JobState::kPending, now - 1'000, std::nullopt),          // waiting normally
      job("job_p_held", JobState::kPending, now - 10'000'000, std::nullopt),    // held: not stuck
      job("job_r_late", JobState::kRunning, now - 4 * 3'600'000, now - 3 * 3'600'000),  // 2 h limit
      job("job_r_ok", JobState::kRunning, now - 3'600'000, now - 3'500'000),
      job("job_done", JobState::kCompleted, now - 7'201'000, now - 7'200'000),  // the day's wait: 1 s
  };
  jobs[2].job.held = true;
  jobs[2].job.reason = compute::PendingReason::kHeld;
  jobs.push_back(job("job_p_dep", JobState::kPending, now - 10'000'000, std::nullopt));  // waits on another
  jobs.back().job.dependency = *compute::parse_dependency("afterok:job_done");
  ASSERT_TRUE(db_->write_tx([&](db::Tx& tx) -> Status {
    for (auto& j : jobs) {
      JobRecord submitted = j;
      submitted.job.state = JobState::kPending;
      TRY_STATUS(insert(tx, submitted));
      if (j.job.state != JobState::kPending)  // the row's start and end come with its transitions
        TRY_STATUS(record_transition(tx, j.job, {.job = j.id(), .from = JobState::kPending, .to = j.job.state}));
    }
    return {};
  }));
  auto f = db_->read([&](db::Tx& tx) { return queue_figures(tx, now); });
  ASSERT_TRUE(f) << f.error().detail;
  EXPECT_EQ(f->pending, 4);
  EXPECT_EQ(f->stuck_running, 1);
  EXPECT_EQ(f->stuck_pending, 1);
}

}  // namespace
}  // namespace atrium::jobs
