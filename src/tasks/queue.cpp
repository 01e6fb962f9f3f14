// tasks::Queue: a dispatcher coroutine on the runtime's I/O thread claims due tasks (on the pool)
// while fewer than `workers` run, runs each handler on the pool, and otherwise waits on a Waiter
// until kicked, until a handler ends, or until the next task falls due or lease expires on the
// injected clock. An async::Periodic renews the leases of running handlers every third of a
// lease and deletes old succeeded tasks.
#include <chrono>
#include <map>
#include <mutex>
#include <random>
#include <set>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/crypto.hpp"
#include "obs/metrics.hpp"
#include "tasks/store.hpp"

namespace atrium::tasks {
namespace {

bool transient(ErrorCode c) {
  return c == ErrorCode::kUnavailable || c == ErrorCode::kInternal || c == ErrorCode::kAborted ||
         c == ErrorCode::kResourceExhausted;
}

constexpr Millis kPurgeEvery = 3600'000;
constexpr Millis kRetryAfterDbError = 5'000;

}  // namespace

struct Queue::Impl {
  db::Database& db;
  async::Runtime& rt;
  const Clock& clock;
  Settings s;
  std::map<std::string, ResultHandler> handlers;  // fixed once started
  std::vector<std::string> kinds;
  async::Waiter waiter;
  std::atomic<bool> stopping{false};
  std::unique_ptr<async::Periodic> upkeep;

  mutable std::mutex mu;
  std::condition_variable cv;
  bool dispatching = false;           // GUARDED_BY(mu): the dispatcher coroutine has not ended
  int in_flight = 0;                  // GUARDED_BY(mu)
  std::set<std::string> held;         // GUARDED_BY(mu): lease tokens of running handlers
  std::uint64_t recorded = 0;         // GUARDED_BY(mu): attempts recorded (await_done waits for more)
  std::mt19937_64 rng{std::random_device{}()};  // GUARDED_BY(mu)
  Millis last_purge = 0;              // the upkeep's own (runs never overlap)

  mutable std::mutex metrics_mu;
  std::map<std::pair<std::string, std::string>, std::uint64_t> runs;  // GUARDED_BY(metrics_mu)
  std::map<std::string, obs::Histogram> durations;                    // GUARDED_BY(metrics_mu)

  Impl(db::Database& d, async::Runtime& r, const Clock& c, Settings st) : db(d), rt(r), clock(c), s(st) {}

  async::Task<void> dispatch();
  void run(const store::Claim& c);
  void record(const store::Claim& c, const Result<nlohmann::json>& st, double seconds);
  Millis tend();
};

Queue::Queue(db::Database& db, async::Runtime& rt, const Clock& clock, Settings s)
    : impl_(std::make_unique<Impl>(db, rt, clock, s)) {}

Queue::~Queue() { stop(); }

void Queue::handle(std::string kind, Handler h) {
  handle_with_result(std::move(kind), [h = std::move(h)](const Task& t) -> Result<nlohmann::json> {
    TRY_STATUS(h(t));
    return nlohmann::json(nullptr);
  });
}

void Queue::handle_with_result(std::string kind, ResultHandler h) {
  impl_->kinds.push_back(kind);
  impl_->handlers[std::move(kind)] = std::move(h);
}

Result<std::optional<Info>> Queue::await_done(const std::string& id, Millis timeout_ms) {
  Impl& q = *impl_;
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    std::uint64_t seen;
    {
      std::lock_guard lk(q.mu);
      seen = q.recorded;
    }
    auto t = TRY(q.db.read([&](db::Tx& tx) { return get(tx, id); }));
    if (!t || t->state == "succeeded" || t->state == "dead") return t;
    std::unique_lock lk(q.mu);
    if (!q.cv.wait_until(lk, until, [&] { return q.recorded != seen; })) return t;
  }
}

void Queue::start() {
  Impl& q = *impl_;
  {
    std::lock_guard lk(q.mu);
    if (q.dispatching) return;
    q.dispatching = true;
  }
  q.stopping = false;
  // Tasks this binary cannot run stay queued for a binary that can (an upgrade in progress).
  auto unknown = q.db.read([&](db::Tx& tx) { return store::unknown_kinds(tx, q.kinds); });
  if (unknown)
    for (auto& [kind, n] : *unknown)
      spdlog::warn("tasks: {} queued task(s) of kind '{}' that no handler here runs: they wait", n, kind);
  Millis period = std::max<Millis>(q.s.lease_ms / 3, 1);
  q.upkeep = std::make_unique<async::Periodic>(q.rt, q.clock, period, [&q] { return q.tend(); });
  q.upkeep->start();
  q.rt.spawn(q.dispatch());
}

void Queue::stop() {
  Impl& q = *impl_;
  q.stopping = true;
  q.waiter.wake();
  {
    std::unique_lock lk(q.mu);
    q.cv.wait(lk, [&] { return !q.dispatching && q.in_flight == 0; });
  }
  if (q.upkeep) q.upkeep->stop();
}

void Queue::kick() { impl_->waiter.wake(); }

async::Task<void> Queue::Impl::dispatch() {
  struct Ended {
    Impl& q;
    ~Ended() {
      std::lock_guard lk(q.mu);
      q.dispatching = false;
      q.cv.notify_all();
    }
  } ended{*this};
  while (!stopping.load()) {
    Millis next = async::kNever;
    bool room;
    {
      std::lock_guard lk(mu);
      room = in_flight < s.workers;
    }
    if (room) {
      std::string token = crypto::hex(crypto::random_bytes(16));
      auto claimed = co_await async::on_pool(rt, [&] {
        Millis now = clock.now_ms();
        return db.write([&](db::Tx& tx) { return store::claim(tx, kinds, token, now, s.lease_ms); });
      });
      if (!claimed) {
        spdlog::error("tasks: claiming: {}", claimed.error().detail);
        next = clock.now_ms() + kRetryAfterDbError;
      } else if (claimed->claim) {
        {
          std::lock_guard lk(mu);
          ++in_flight;
          held.insert(token);
        }
        async::asio::post(rt.pool(), [this, c = std::move(*claimed->claim)] { run(c); });
        continue;
      } else {
        next = claimed->next;
      }
    }
    co_await waiter.wait(clock, next);
  }
}

void Queue::Impl::run(const store::Claim& c) {
  Stopwatch sw;
  Result<nlohmann::json> st;
  try {
    st = handlers.at(c.task.kind)(c.task);
  } catch (const std::exception& e) {
    st = internal(std::string("the handler threw: ") + e.what());
  }
  record(c, st, sw.seconds());
  {
    std::lock_guard lk(mu);
    --in_flight;
    ++recorded;
    held.erase(c.token);
    cv.notify_all();
  }
  waiter.wake();
}

// The attempt's outcome, kept only while its lease is still this worker's: when the lease expired
// and another worker claimed the task, that worker's attempt decides.
void Queue::Impl::record(const store::Claim& c, const Result<nlohmann::json>& st, double seconds) {
  const Task& t = c.task;
  Millis now = clock.now_ms();
  std::string outcome = st ? "succeeded" : (transient(st.error().code) && t.attempt < t.max_attempts ? "retry" : "dead");
  Millis run_at = now;
  if (outcome == "retry") {
    std::lock_guard lk(mu);
    run_at = now + backoff_ms(s, t.attempt, std::uniform_real_distribution<double>(0, 1)(rng));
  }
  std::string error = st ? "" : st.error().detail.substr(0, 2000);
  auto kept = db.write([&](db::Tx& tx) -> Result<bool> {
    if (outcome == "succeeded") return store::succeed(tx, t.id, c.token, now, *st);
    if (outcome == "retry") return store::requeue(tx, t.id, c.token, error, run_at, now);
    return store::bury(tx, t.id, c.token, error, now);
  });
  if (!kept) spdlog::error("tasks: recording task {} ({}): {}", t.id, t.kind, kept.error().detail);
  else if (!*kept) {
    spdlog::warn("tasks: task {} ({}) attempt {} ended after its lease was taken: its outcome is dropped", t.id,
                 t.kind, t.attempt);
    outcome = "lease_lost";
  } else if (outcome != "succeeded") {
    spdlog::warn("tasks: task {} ({}) attempt {}/{} failed ({}): {}", t.id, t.kind, t.attempt, t.max_attempts,
                 outcome == "retry" ? "retried at " + format_rfc3339(run_at) : "dead", error);
  }
  std::lock_guard lk(metrics_mu);
  ++runs[{t.kind, outcome}];
  durations[t.kind].observe(seconds);
}

// Upkeep: renew the leases of running handlers; now and then delete old succeeded tasks.
Millis Queue::Impl::tend() {
  Millis now = clock.now_ms();
  std::vector<std::string> tokens;
  {
    std::lock_guard lk(mu);
    tokens.assign(held.begin(), held.end());
  }
  if (auto st = db.write_tx([&](db::Tx& tx) { return store::renew(tx, tokens, now + s.lease_ms); }); !st)
    spdlog::error("tasks: renewing leases: {}", st.error().detail);
  if (now - last_purge >= kPurgeEvery) {
    last_purge = now;
    auto n = db.write([&](db::Tx& tx) { return store::purge_done(tx, now - s.keep_done_ms); });
    if (!n) spdlog::error("tasks: deleting old succeeded tasks: {}", n.error().detail);
    else if (*n > 0) spdlog::info("tasks: deleted {} succeeded task(s) older than {} h", *n, s.keep_done_ms / 3600'000);
  }
  return 0;
}

std::string Queue::render_metrics() const {
  const Impl& q = *impl_;
  std::string out;
  auto counts = q.db.read([](db::Tx& tx) { return store::count_by_state(tx); });
  if (counts) {
    out += "# HELP atrium_tasks Background tasks by state.\n# TYPE atrium_tasks gauge\n";
    for (auto& [state, n] : *counts) out += fmt::format("atrium_tasks{{state=\"{}\"}} {}\n", state, n);
  }
  std::lock_guard lk(q.metrics_mu);
  out += "# HELP atrium_task_runs_total Task attempts by kind and outcome.\n# TYPE atrium_task_runs_total counter\n";
  for (auto& [k, n] : q.runs)
    out += fmt::format("atrium_task_runs_total{{kind=\"{}\",outcome=\"{}\"}} {}\n", obs::label_escape(k.first),
                       k.second, n);
  out += "# HELP atrium_task_run_duration_seconds Time a task's handler ran, by kind.\n"
         "# TYPE atrium_task_run_duration_seconds histogram\n";
  for (auto& [kind, h] : q.durations)
    h.render(out, "atrium_task_run_duration_seconds", fmt::format("kind=\"{}\"", obs::label_escape(kind)));
  return out;
}

}  // namespace atrium::tasks
