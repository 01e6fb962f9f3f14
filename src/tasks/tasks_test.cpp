// The task queue against SQLite in a temp dir, with a ManualClock: nothing here waits on real time
// except for a worker thread to finish what it was woken for.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "audit/audit.hpp"
#include "core/crypto.hpp"
#include "db/testing.hpp"
#include "tasks/store.hpp"
#include "tasks/tasks.hpp"

namespace atrium::tasks {
namespace {

constexpr Millis kLease = 60'000;

class TasksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    crypto::init();
    db_ = db::open_test_db();
    ASSERT_TRUE(db_->migrate("tasks", migrations()));
    ASSERT_TRUE(db_->migrate("audit", audit::migrations()));
    rt_.start();
  }
  void TearDown() override {
    queue_.reset();
    rt_.stop();
  }
  std::string add(NewTask t) {
    auto id = db_->write([&](db::Tx& tx) { return enqueue(tx, t, clock_.now_ms()); });
    EXPECT_TRUE(id) << id.error().detail;
    return id ? *id : "";
  }
  Info info(const std::string& id) {
    auto t = db_->read([&](db::Tx& tx) { return get(tx, id); });
    EXPECT_TRUE(t && *t);
    return t && *t ? **t : Info{};
  }
  store::ClaimResult claim(const std::string& token, std::vector<std::string> kinds = {"k"}) {
    auto c = db_->write([&](db::Tx& tx) { return store::claim(tx, kinds, token, clock_.now_ms(), kLease); });
    EXPECT_TRUE(c) << c.error().detail;
    return c ? *c : store::ClaimResult{};
  }
  Queue& queue(Settings s = {.workers = 2, .lease_ms = kLease, .backoff_base_ms = 1000, .backoff_max_ms = 60'000}) {
    queue_ = std::make_unique<Queue>(*db_, rt_, clock_, s);
    return *queue_;
  }
  // Waits (in real time, bounded) for the queue's worker threads to reach `pred`.
  template <typename F>
  bool eventually(F pred) {
    for (int i = 0; i < 5000; ++i) {
      if (pred()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return pred();
  }

  ManualClock clock_;
  std::unique_ptr<db::SqliteDatabase> db_;
  async::Runtime rt_{4};
  std::unique_ptr<Queue> queue_;
};

TEST_F(TasksTest, EnqueueInARolledBackTransactionLeavesNothing) {
  auto st = db_->write_tx([&](db::Tx& tx) -> Status {
    TRY(enqueue(tx, {.kind = "k", .key = "x"}, clock_.now_ms()));
    return invalid("the caller's change failed");
  });
  ASSERT_FALSE(st);
  auto all = db_->read([](db::Tx& tx) { return list(tx, {}); });
  ASSERT_TRUE(all);
  EXPECT_TRUE(all->empty());
}

TEST_F(TasksTest, SameKeyTwiceIsOneTask) {
  auto a = add({.kind = "k", .key = "mail:1"});
  auto b = add({.kind = "k", .key = "mail:1", .payload = {{"other", true}}});
  auto c = add({.kind = "k", .key = "mail:2"});
  auto d = add({.kind = "k"});
  auto e = add({.kind = "k"});
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_NE(d, e);  // no key: every enqueue is a task
  auto all = db_->read([](db::Tx& tx) { return list(tx, {}); });
  EXPECT_EQ(all->size(), 4u);
}

TEST_F(TasksTest, BadTasksAreRefused) {
  EXPECT_FALSE(db_->write([&](db::Tx& tx) { return enqueue(tx, {.kind = ""}, 0); }));
  EXPECT_FALSE(db_->write([&](db::Tx& tx) { return enqueue(tx, {.kind = "k", .max_attempts = 0}, 0); }));
}

TEST_F(TasksTest, ClaimLeaseExpiryAndReclaim) {
  auto id = add({.kind = "k", .payload = {{"n", 1}}});
  add({.kind = "other"});
  auto a = claim("A");
  ASSERT_TRUE(a.claim);
  EXPECT_EQ(a.claim->task.id, id);
  EXPECT_EQ(a.claim->task.attempt, 1);
  EXPECT_EQ(a.claim->task.payload["n"], 1);
  EXPECT_EQ(info(id).state, "running");
  // Leased: nobody else gets it until the lease ends; the claimer learns when that is.
  auto b = claim("B");
  EXPECT_FALSE(b.claim);
  EXPECT_EQ(b.next, clock_.now_ms() + kLease);
  clock_.advance_ms(kLease);  // A's worker died (kill -9) or hangs
  b = claim("B");
  ASSERT_TRUE(b.claim);
  EXPECT_EQ(b.claim->task.id, id);
  EXPECT_EQ(b.claim->task.attempt, 2);
  EXPECT_NE(info(id).last_error.find("lease expired"), std::string::npos);
  // A's late outcome changes nothing; B's counts.
  auto now = clock_.now_ms();
  EXPECT_FALSE(*db_->write([&](db::Tx& tx) { return store::succeed(tx, id, "A", now); }));
  EXPECT_FALSE(*db_->write([&](db::Tx& tx) { return store::bury(tx, id, "A", "late", now); }));
  EXPECT_FALSE(*db_->write([&](db::Tx& tx) { return store::requeue(tx, id, "A", "late", now, now); }));
  EXPECT_EQ(info(id).state, "running");
  EXPECT_TRUE(*db_->write([&](db::Tx& tx) { return store::succeed(tx, id, "B", now); }));
  auto done = info(id);
  EXPECT_EQ(done.state, "succeeded");
  EXPECT_EQ(done.attempts, 2);
  EXPECT_TRUE(done.finished_at);
}

TEST_F(TasksTest, RenewedLeaseIsNotReclaimed) {
  add({.kind = "k"});
  ASSERT_TRUE(claim("A").claim);
  clock_.advance_ms(kLease - 1);
  ASSERT_TRUE(db_->write_tx([&](db::Tx& tx) { return store::renew(tx, {"A"}, clock_.now_ms() + kLease); }));
  clock_.advance_ms(kLease - 1);
  EXPECT_FALSE(claim("B").claim);
}

TEST_F(TasksTest, ExpiredLeaseOfTheLastAttemptIsDead) {
  auto id = add({.kind = "k", .max_attempts = 1});
  ASSERT_TRUE(claim("A").claim);
  clock_.advance_ms(kLease);
  EXPECT_FALSE(claim("B").claim);
  EXPECT_EQ(info(id).state, "dead");
}

TEST_F(TasksTest, NotBeforeAndUnknownKindsWait) {
  auto later = add({.kind = "k", .not_before = clock_.now_ms() + 5000});
  add({.kind = "newer"});
  auto c = claim("A");
  EXPECT_FALSE(c.claim);
  EXPECT_EQ(c.next, clock_.now_ms() + 5000);
  clock_.advance_ms(5000);
  c = claim("A");
  ASSERT_TRUE(c.claim);
  EXPECT_EQ(c.claim->task.id, later);
  auto unknown = db_->read([](db::Tx& tx) { return store::unknown_kinds(tx, {"k"}); });
  EXPECT_EQ((*unknown)["newer"], 1);
}

TEST_F(TasksTest, BackoffDoublesWithJitterUpToTheMaximum) {
  Settings s{.backoff_base_ms = 1000, .backoff_max_ms = 10'000};
  EXPECT_EQ(backoff_ms(s, 1, 0.0), 500);
  EXPECT_EQ(backoff_ms(s, 1, 1.0), 1000);
  EXPECT_EQ(backoff_ms(s, 2, 1.0), 2000);
  EXPECT_EQ(backoff_ms(s, 3, 0.5), 3000);
  EXPECT_EQ(backoff_ms(s, 4, 1.0), 8000);
  EXPECT_EQ(backoff_ms(s, 5, 1.0), 10'000);
  EXPECT_EQ(backoff_ms(s, 500, 0.0), 5000);
}

TEST_F(TasksTest, SucceededTasksArePurgedAfterKeepDone) {
  auto id = add({.kind = "k"});
  ASSERT_TRUE(claim("A").claim);
  auto t0 = clock_.now_ms();
  ASSERT_TRUE(*db_->write([&](db::Tx& tx) { return store::succeed(tx, id, "A", t0); }));
  EXPECT_EQ(*db_->write([&](db::Tx& tx) { return store::purge_done(tx, t0); }), 0);
  EXPECT_EQ(*db_->write([&](db::Tx& tx) { return store::purge_done(tx, t0 + 1); }), 1);
}

TEST_F(TasksTest, KickWakesAWaitingWorker) {
  std::atomic<int> runs{0};
  auto& q = queue();
  q.handle("k", [&](const Task&) -> Status {
    ++runs;
    return {};
  });
  q.start();
  auto first = add({.kind = "k"});
  q.kick();
  ASSERT_TRUE(eventually([&] { return info(first).state == "succeeded"; }));
  // The clock stands still: only the kick can wake the idle worker for the second task.
  auto second = add({.kind = "k"});
  q.kick();
  ASSERT_TRUE(eventually([&] { return info(second).state == "succeeded"; }));
  EXPECT_EQ(runs.load(), 2);
  EXPECT_EQ(info(second).attempts, 1);
}

TEST_F(TasksTest, TransientFailuresBackOffThenDie) {
  std::atomic<int> runs{0};
  auto& q = queue();
  q.handle("k", [&](const Task& t) -> Status {
    EXPECT_EQ(t.attempt, runs.load() + 1);
    ++runs;
    return fail(ErrorCode::kUnavailable, "down", "the server is down");
  });
  auto id = add({.kind = "k", .max_attempts = 3});
  q.start();
  for (int attempt = 1; attempt <= 2; ++attempt) {
    ASSERT_TRUE(eventually([&] {
      auto t = info(id);
      return t.attempts == attempt && t.state == "queued";
    }));
    auto t = info(id);
    Millis wait = t.run_at - t.updated_at;
    Millis planned = 1000LL << (attempt - 1);
    EXPECT_GE(wait, planned / 2);
    EXPECT_LE(wait, planned);
    EXPECT_EQ(t.last_error, "the server is down");
    clock_.advance_ms(wait);  // the worker wakes at run_at on the injected clock
  }
  ASSERT_TRUE(eventually([&] { return info(id).state == "dead"; }));
  EXPECT_EQ(runs.load(), 3);
  EXPECT_EQ(info(id).attempts, 3);
  // The outcome is counted just after it is committed.
  EXPECT_TRUE(eventually([&] {
    return q.render_metrics().find("atrium_task_runs_total{kind=\"k\",outcome=\"dead\"} 1") != std::string::npos;
  }));
  auto metrics = q.render_metrics();
  EXPECT_NE(metrics.find("atrium_task_runs_total{kind=\"k\",outcome=\"retry\"} 2"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("atrium_tasks{state=\"dead\"} 1"), std::string::npos);
}

TEST_F(TasksTest, PermanentErrorIsDeadAtOnceAndAnAdminRetries) {
  std::atomic<bool> fixed{false};
  auto& q = queue();
  q.handle("k", [&](const Task&) -> Status {
    if (fixed) return {};
    return invalid("the payload names no such thing");
  });
  auto id = add({.kind = "k"});
  q.start();
  ASSERT_TRUE(eventually([&] { return info(id).state == "dead"; }));
  EXPECT_EQ(info(id).attempts, 1);
  Actor admin{.user_id = "usr_admin", .username = "admin", .request_id = "r1"};
  auto not_dead = db_->write([&](db::Tx& tx) { return retry(tx, admin, "tsk_missing", clock_.now_ms()); });
  EXPECT_EQ(not_dead.error().code, ErrorCode::kNotFound);
  fixed = true;
  auto again = db_->write([&](db::Tx& tx) { return retry(tx, admin, id, clock_.now_ms()); });
  ASSERT_TRUE(again);
  EXPECT_EQ(again->state, "queued");
  EXPECT_EQ(again->attempts, 0);
  q.kick();
  ASSERT_TRUE(eventually([&] { return info(id).state == "succeeded"; }));
  auto gone = db_->write_tx([&](db::Tx& tx) { return remove(tx, admin, id, clock_.now_ms()); });
  EXPECT_EQ(gone.error().code, ErrorCode::kFailedPrecondition);  // only dead tasks are deleted
  auto events = db_->read([](db::Tx& tx) { return audit::list(tx, {.action = "task.*"}); });
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0]["action"], "task.retry");
}

TEST_F(TasksTest, RunningHandlersLeaseIsRenewed) {
  std::atomic<bool> release{false}, started{false};
  auto& q = queue();
  q.handle("k", [&](const Task&) -> Status {
    started = true;
    while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return {};
  });
  auto id = add({.kind = "k"});
  q.start();
  ASSERT_TRUE(eventually([&] { return started.load(); }));
  Millis first = *info(id).lease_until;
  clock_.advance_ms(kLease / 2);
  EXPECT_TRUE(eventually([&] { return *info(id).lease_until > first; }));
  release = true;
  ASSERT_TRUE(eventually([&] { return info(id).state == "succeeded"; }));
  EXPECT_EQ(info(id).attempts, 1);
}

TEST_F(TasksTest, AThrowingHandlerIsRetried) {
  std::atomic<int> runs{0};
  auto& q = queue();
  q.handle("k", [&](const Task&) -> Status {
    if (runs++ == 0) throw std::runtime_error("boom");
    return {};
  });
  auto id = add({.kind = "k"});
  q.start();
  ASSERT_TRUE(eventually([&] { return info(id).state == "queued" && info(id).attempts == 1; }));
  EXPECT_NE(info(id).last_error.find("boom"), std::string::npos);
  clock_.advance_ms(1000);
  ASSERT_TRUE(eventually([&] { return info(id).state == "succeeded"; }));
}

TEST_F(TasksTest, AResultHandlerLeavesItsResultForWhoeverWaits) {
  auto& q = queue();
  q.handle_with_result("k", [](const Task& t) -> Result<nlohmann::json> {
    return nlohmann::json{{"doubled", t.payload["n"].get<int>() * 2}};
  });
  q.start();
  auto id = add({.kind = "k", .payload = {{"n", 21}}});
  q.kick();
  auto t = q.await_done(id, 10'000);
  ASSERT_TRUE(t && *t);
  EXPECT_EQ((*t)->state, "succeeded");
  EXPECT_EQ((*t)->result["doubled"], 42);
  EXPECT_EQ((*t)->json()["result"]["doubled"], 42);
  EXPECT_FALSE(*q.await_done("tsk_none", 10));
}

}  // namespace
}  // namespace atrium::tasks
