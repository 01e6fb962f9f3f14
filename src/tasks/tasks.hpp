// Durable background tasks (the Celery role). A task is a row in the database, enqueued in the same
// transaction as the change that causes it (durable with it, rolled back with it), claimed by a
// worker with a lease, retried with exponential back-off up to its maximum number of attempts, and
// dead-lettered after the last one. Delivery is at least once: a task whose worker died while it
// held the lease (a kill -9) runs again once the lease expires, so handlers must be idempotent
// (the task id and `attempt` are given to them for that).
//
// Wiring (app/): tasks::migrations(); one Queue; each module registers its kinds with handle()
// before start(); the commit listener calls kick() when the `tasks` table changed.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/actor.hpp"
#include "core/async.hpp"
#include "core/clock.hpp"
#include "core/error.hpp"
#include "db/database.hpp"

namespace atrium::tasks {

std::vector<db::Migration> migrations();

struct NewTask {
  std::string kind;  // names a registered handler: "mail.send", "data.gc", "jobs.capture_outputs", ...
  std::string key;   // idempotency key: enqueueing a key that exists is a no-op ("" = no key)
  nlohmann::json payload = nlohmann::json::object();
  int max_attempts = 8;
  Millis not_before = 0;  // run no earlier than this (0 = as soon as possible)
};

// Enqueues `t` in the caller's transaction. Returns the task's id (the existing task's id when a task
// with the same key exists, whatever its state).
Result<std::string> enqueue(db::Tx& tx, const NewTask& t, Millis now);

// What admins see of a task (never its payload: a payload may hold what a handler needs, such as
// an address or a link, that an admin list must not show).
struct Info {
  std::string id, kind, key;
  std::string state;  // queued | running | succeeded | dead
  int attempts = 0, max_attempts = 0;
  Millis run_at = 0;
  std::optional<Millis> lease_until;
  std::string last_error;
  Millis created_at = 0, updated_at = 0;
  std::optional<Millis> finished_at;
  nlohmann::json result;  // what a result handler left (null: none)
  nlohmann::json json() const;
};

struct ListFilter {
  std::string state, kind;  // "" = any
  int limit = 50;
  std::string after;  // the last id of the previous page ("" = from the oldest)
};

// Reads for the admin API and for modules that follow a task they enqueued (by key).
Result<std::vector<Info>> list(db::Tx& tx, const ListFilter& f);
Result<std::optional<Info>> get(db::Tx& tx, const std::string& id);
Result<std::optional<Info>> get_by_key(db::Tx& tx, const std::string& key);
// A dead task back to queued with its attempts reset (audited); kFailedPrecondition when not dead.
Result<Info> retry(db::Tx& tx, const Actor& actor, const std::string& id, Millis now);
// Empties a task's payload (to {}): a handler whose payload holds a secret calls it once the work is
// done, in the transaction that records it, so succeeded tasks kept for keep_done_ms hold nothing.
Status clear_payload(db::Tx& tx, const std::string& id);
// Deletes a dead task (audited); kFailedPrecondition when not dead.
Status remove(db::Tx& tx, const Actor& actor, const std::string& id, Millis now);

struct Task {
  std::string id, kind, key;
  nlohmann::json payload;
  int attempt = 1;  // 1 on the first run
  int max_attempts = 8;
};

// A handler runs on the worker pool and may block. It returns success, or an error: a transient one
// (kUnavailable, kInternal, kAborted, kResourceExhausted: retried after back-off) or a permanent one
// (any other code: dead at once, without further attempts). The error's detail is kept as the task's
// last error, visible to admins: it must not hold secrets.
using Handler = std::function<Status(const Task&)>;
// A handler whose success leaves a result with the task (a report shown to admins and to whoever
// waits for it: no secrets).
using ResultHandler = std::function<Result<nlohmann::json>(const Task&)>;

struct Settings {
  int workers = 2;                // tasks run at once
  Millis lease_ms = 60'000;       // a claimed task is another worker's after this (renewed while it runs)
  Millis backoff_base_ms = 1'000; // retry n waits base * 2^(n-1), with jitter, at most backoff_max_ms
  Millis backoff_max_ms = 3'600'000;
  Millis keep_done_ms = 7LL * 24 * 3600 * 1000;  // succeeded tasks are deleted after this
};

// The wait before the retry that follows failed attempt `attempt` (1, 2, ...): base * 2^(attempt-1)
// capped at backoff_max_ms, then scaled into [1/2, 1] of that by `jitter` in [0, 1) ("equal
// jitter": retries of tasks that failed together spread out, none comes much sooner than planned).
Millis backoff_ms(const Settings& s, int attempt, double jitter);

class Queue {
 public:
  Queue(db::Database& db, async::Runtime& rt, const Clock& clock, Settings s);
  ~Queue();
  Queue(const Queue&) = delete;
  Queue& operator=(const Queue&) = delete;

  // Registers the handler of `kind`; before start().
  void handle(std::string kind, Handler h);
  void handle_with_result(std::string kind, ResultHandler h);
  void start();
  void stop();  // waits for running handlers; their tasks stay leased and run again after restart
  // Something was enqueued: look for work now rather than at the next timer.
  void kick();
  // Prometheus text: tasks by state (a gauge, read from the database: call it on the pool), runs
  // by kind and outcome, run durations by kind.
  std::string render_metrics() const;
  // Blocks (on the pool, never on an I/O thread) until task `id` has succeeded or is dead, or
  // until `timeout_ms` of real time passed (a request's patience, not a schedule); the task as it
  // is then (nullopt: no such task).
  Result<std::optional<Info>> await_done(const std::string& id, Millis timeout_ms);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace atrium::tasks
