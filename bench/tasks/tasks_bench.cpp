// The task queue's cost over the database it lives in: N tasks enqueued (one write transaction
// each, as a request would), claimed, run (an empty handler) and marked succeeded by the real Queue,
// against the anchor of a bare SQLite loop in the same run on the same database settings: N
// inserts then N deletes of a row, one durable write transaction each (the least a durable
// queue must do per item). Then the latency from an enqueue's commit to its handler's start, one
// task at a time (an idle queue woken by the commit).
// Usage: atrium_bench_tasks [DIR=/tmp/atrium-bench-tasks] [N=2000] [WORKERS=2] [SYNC=full]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "core/crypto.hpp"
#include "db/sqlite/sqlite_database.hpp"
#include "tasks/tasks.hpp"

using namespace atrium;
using Steady = std::chrono::steady_clock;

namespace {

double secs(Steady::time_point a, Steady::time_point b) { return std::chrono::duration<double>(b - a).count(); }

std::unique_ptr<db::SqliteDatabase> open(const std::filesystem::path& dir, const std::string& sync) {
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto db = db::SqliteDatabase::open({.path = (dir / "bench.db").string(), .synchronous = sync});
  if (!db) {
    std::fprintf(stderr, "%s\n", db.error().detail.c_str());
    std::exit(1);
  }
  return std::move(*db);
}

void check(const Status& st) {
  if (!st) {
    std::fprintf(stderr, "%s\n", st.error().detail.c_str());
    std::exit(1);
  }
}

// The anchor: a durable insert and a durable delete per item.
double bare_loop(db::Database& db, int n) {
  check(db.write_tx([](db::Tx& tx) -> Status {
    TRY(tx.exec("CREATE TABLE IF NOT EXISTS anchor (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)"));
    return {};
  }));
  auto t0 = Steady::now();
  for (int i = 0; i < n; ++i)
    check(db.write_tx([i](db::Tx& tx) -> Status {
      TRY(tx.exec("INSERT INTO anchor (id, payload) VALUES (?, ?)", {std::int64_t{i}, std::string("{}")}));
      return {};
    }));
  for (int i = 0; i < n; ++i)
    check(db.write_tx([i](db::Tx& tx) -> Status {
      TRY(tx.exec("DELETE FROM anchor WHERE id = ?", {std::int64_t{i}}));
      return {};
    }));
  return secs(t0, Steady::now());
}

struct Runs {
  std::mutex mu;
  std::condition_variable cv;
  int done = 0;
  Steady::time_point last_start;
};

}  // namespace

int main(int argc, char** argv) {
  crypto::init();
  std::filesystem::path dir = argc > 1 ? argv[1] : "/tmp/atrium-bench-tasks";
  int n = argc > 2 ? std::atoi(argv[2]) : 2000;
  int workers = argc > 3 ? std::atoi(argv[3]) : 2;
  std::string sync = argc > 4 ? argv[4] : "full";

  auto anchor_db = open(dir / "anchor", sync);
  double anchor = bare_loop(*anchor_db, n);

  auto db = open(dir / "queue", sync);
  check(db->migrate("tasks", tasks::migrations()));
  SystemClock clock;
  async::Runtime rt(16);
  rt.start();
  tasks::Queue queue(*db, rt, clock, {.workers = workers});
  db->set_commit_listener([&queue](const std::vector<std::string>& tables) {
    if (std::find(tables.begin(), tables.end(), "tasks") != tables.end()) queue.kick();
  });
  Runs runs;
  queue.handle("bench", [&runs](const tasks::Task&) -> Status {
    std::lock_guard lk(runs.mu);
    runs.last_start = Steady::now();
    ++runs.done;
    runs.cv.notify_all();
    return {};
  });
  queue.start();
  auto enqueue = [&](int i) {
    check(db->write_tx([&](db::Tx& tx) -> Status {
      TRY(tasks::enqueue(tx, {.kind = "bench", .key = fmt::format("bench:{}", i)}, clock.now_ms()));
      return {};
    }));
  };
  auto wait_done = [&](int count) {
    std::unique_lock lk(runs.mu);
    runs.cv.wait(lk, [&] { return runs.done >= count; });
  };

  // Throughput: enqueue n as fast as one client can while the workers drain them.
  auto t0 = Steady::now();
  for (int i = 0; i < n; ++i) enqueue(i);
  double enqueued = secs(t0, Steady::now());
  wait_done(n);
  // The last one is marked succeeded just after its handler: wait for the table to say so.
  for (;;) {
    auto left = db->read([](db::Tx& tx) { return tasks::list(tx, {.state = "running", .limit = 1}); });
    auto queued = db->read([](db::Tx& tx) { return tasks::list(tx, {.state = "queued", .limit = 1}); });
    if (left && queued && left->empty() && queued->empty()) break;
    std::this_thread::yield();
  }
  double total = secs(t0, Steady::now());

  // Latency: one task at a time into an idle queue, commit to handler start.
  int samples = std::min(n, 300);
  std::vector<double> lat;
  for (int i = 0; i < samples; ++i) {
    auto before = Steady::now();
    enqueue(n + i);
    auto committed = Steady::now();
    wait_done(n + i + 1);
    std::lock_guard lk(runs.mu);
    lat.push_back(secs(committed, runs.last_start) * 1000);
    (void)before;
  }
  queue.stop();
  rt.stop();
  // The anchor again, after: the disk's fsync rate varies on a shared machine.
  auto anchor_db2 = open(dir / "anchor2", sync);
  double anchor2 = bare_loop(*anchor_db2, n);
  anchor = std::min(anchor, anchor2);
  std::sort(lat.begin(), lat.end());
  auto pct = [&](double p) { return lat[std::min(lat.size() - 1, static_cast<std::size_t>(p * lat.size()))]; };
  std::printf("sqlite synchronous=%s, N=%d, workers=%d\n", sync.c_str(), n, workers);
  std::printf("anchor: bare insert+delete, one durable tx each: best of before/after %.3f s = %.0f items/s (after: %.3f s)\n",
              anchor, n / anchor, anchor2);
  std::printf("queue: enqueue (1 tx each) %.3f s; enqueue + claim + run + succeed of all: %.3f s = %.0f tasks/s\n",
              enqueued, total, n / total);
  std::printf("ratio: queue time / anchor time = %.2f\n", total / anchor);
  std::printf("latency commit -> handler start, idle queue, %d samples: p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n",
              samples, pct(0.5), pct(0.9), pct(0.99), lat.back());
  std::filesystem::remove_all(dir);
  return 0;
}
