// SQLite driver: WAL, durable commits by default, busy timeout, a pool of connections each with
// cached prepared statements, and one writer at a time (a mutex before BEGIN IMMEDIATE, so writers
// queue in-process instead of spinning on SQLITE_BUSY).
//
// Group commit. Writers queue on one lock. Each write transaction runs in a savepoint of an open
// SQLite transaction (the "batch"); a write_tx_shared that succeeds while other writers are queued
// leaves the batch open for them and waits for its commit, so concurrent request transactions share
// one COMMIT (the WAL pages, written once per batch instead of once per request). write_tx always
// commits when its own work is done (callers that hold locks across it need that). A failure rolls
// back that transaction's savepoint only.
//
// Durability ("full", the default) is also grouped: connections run synchronous=NORMAL, so COMMIT
// appends the transaction to the WAL file without an fsync and the writer lock is released at once;
// then write_tx waits, outside the lock, until an fdatasync of the WAL covers its commit. One
// fdatasync, by whichever waiter comes first, covers every commit appended before it started, so
// concurrent writers share the flush instead of queueing one fsync each behind the writer lock.
// write_tx still returns only when the change is on disk. (A committed transaction is visible to
// readers in this process up to one flush before it is durable; after kill -9 it survives anyway:
// the WAL bytes are in the kernel's page cache. Only a power loss inside that window can lose a
// change that someone read but nobody was told was stored.)
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "db/database.hpp"

namespace atrium::db {

struct SqliteSettings {
  std::string path;                  // file path, or ":memory:"-like temp for tests
  std::string synchronous = "full";  // full (group commit, durable) | normal (no fsync per commit)
  int busy_timeout_ms = 5000;
  int max_connections = 16;
};

class SqliteDatabase final : public Database {
 public:
  static Result<std::unique_ptr<SqliteDatabase>> open(const SqliteSettings& settings, DbStats stats = {});
  ~SqliteDatabase() override;

  std::string_view dialect() const override { return "sqlite"; }
  Status write_tx(const std::function<Status(Tx&)>& fn) override;
  Status write_tx_shared(const std::function<Status(Tx&)>& fn) override;
  Status read_tx(const std::function<Status(Tx&)>& fn) override;
  Status migrate(std::string_view module, const std::vector<Migration>& migrations) override;

  class Conn;

 private:
  SqliteDatabase(SqliteSettings s, DbStats stats);
  Result<std::unique_ptr<Conn>> acquire();
  void release(std::unique_ptr<Conn> c);
  struct Batch;
  Status run_write(const std::function<Status(Tx&)>& fn, bool shared);
  void finish_batch(std::optional<Error> rolled_back);
  Status after_commit(const Batch& b);
  // Group commit: returns when an fdatasync of the WAL covers commit `ticket`.
  Status sync_through(std::uint64_t ticket);
  Status flush_wal();  // one fdatasync of the WAL (opened on first use, reopened if replaced)
  bool durable_commits() const;
  bool file_backed() const;

  SqliteSettings settings_;
  DbStats stats_;
  std::mutex pool_mu_;
  std::vector<std::unique_ptr<Conn>> idle_;  // GUARDED_BY(pool_mu_)
  std::mutex write_mu_;                      // one writer at a time
  std::atomic<int> waiting_writers_{0};      // writers queued on write_mu_
  std::shared_ptr<Batch> batch_;             // GUARDED_BY(write_mu_): the open batch, if any
  std::condition_variable batch_cv_;         // a batch finished (with write_mu_)
  std::atomic<std::uint64_t> committed_{0};  // commits appended to the WAL (bumped under write_mu_)

  std::mutex sync_mu_;
  std::condition_variable sync_cv_;
  std::uint64_t synced_ = 0;   // GUARDED_BY(sync_mu_): commits known to be on disk
  bool syncing_ = false;       // GUARDED_BY(sync_mu_): a flush is in progress
  std::uint64_t sync_generation_ = 0;  // GUARDED_BY(sync_mu_): flushes finished (a failed one too)
  int wal_fd_ = -1;            // used only by the flushing thread (syncing_)
};

}  // namespace atrium::db
