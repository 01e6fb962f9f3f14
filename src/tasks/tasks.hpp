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
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

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

struct Settings {
  int workers = 2;                // tasks run at once
  Millis lease_ms = 60'000;       // a claimed task is another worker's after this (renewed while it runs)
  Millis backoff_base_ms = 1'000; // retry n waits base * 2^(n-1), with jitter, at most backoff_max_ms
  Millis backoff_max_ms = 3'600'000;
  Millis keep_done_ms = 7LL * 24 * 3600 * 1000;  // succeeded tasks are deleted after this
};

class Queue {
 public:
  Queue(db::Database& db, async::Runtime& rt, const Clock& clock, Settings s);
  ~Queue();
  Queue(const Queue&) = delete;
  Queue& operator=(const Queue&) = delete;

  // Registers the handler of `kind`; before start().
  void handle(std::string kind, Handler h);
  void start();
  void stop();  // waits for running handlers; their tasks stay leased and run again after restart
  // Something was enqueued: look for work now rather than at the next timer.
  void kick();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace atrium::tasks
