#include "db/sqlite/sqlite_database.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <unordered_map>
#include <utility>

#include "core/clock.hpp"
#include "core/files.hpp"
#include "core/io_thread.hpp"

namespace atrium::db {

class SqliteDatabase::Conn final : public Tx {
 public:
  Conn(sqlite3* db, DbStats* stats) : db_(db), stats_(stats) {
    sqlite3_update_hook(db_, &Conn::on_update, this);
  }
  // Tables with rows changed since the last take_touched() (rowid tables; every table here is one).
  std::vector<std::string> take_touched() { return std::exchange(touched_, {}); }
  sqlite3* handle() const { return db_; }
  ~Conn() override {
    for (auto& [_, st] : cache_) sqlite3_finalize(st);
    sqlite3_close_v2(db_);
  }

  Status exec_script(std::string_view sql) {
    char* err = nullptr;
    std::string s(sql);
    if (sqlite3_exec(db_, s.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : "unknown error";
      sqlite3_free(err);
      return internal("sqlite: " + msg);
    }
    return {};
  }

  // Transaction control through cached statements (no SQL parsing per request).
  Status control(std::string_view sql) { return run(sql, {}, nullptr); }

  Result<Rows> query(std::string_view sql, const Params& params) override {
    Rows rows;
    TRY_STATUS(run(sql, params, &rows));
    return rows;
  }

  Result<std::int64_t> exec(std::string_view sql, const Params& params) override {
    TRY_STATUS(run(sql, params, nullptr));
    return static_cast<std::int64_t>(sqlite3_changes(db_));
  }

 private:
  Result<sqlite3_stmt*> prepare(std::string_view sql) {
    std::string key(sql);
    if (auto it = cache_.find(key); it != cache_.end()) return it->second;
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v3(db_, key.data(), static_cast<int>(key.size()), SQLITE_PREPARE_PERSISTENT, &st,
                           nullptr) != SQLITE_OK)
      return internal(std::string("sqlite prepare: ") + sqlite3_errmsg(db_) + " in: " + key);
    cache_.emplace(std::move(key), st);
    return st;
  }

  Status run(std::string_view sql, const Params& params, Rows* rows) {
    Stopwatch t0;
    sqlite3_stmt* st = TRY(prepare(sql));
    struct Reset {
      sqlite3_stmt* s;
      ~Reset() { sqlite3_reset(s); sqlite3_clear_bindings(s); }
    } reset{st};
    if (static_cast<int>(params.size()) != sqlite3_bind_parameter_count(st))
      return internal("sqlite: parameter count mismatch in: " + std::string(sql));
    for (std::size_t i = 0; i < params.size(); ++i) {
      int idx = static_cast<int>(i + 1);
      const Value& v = params[i];
      int rc = SQLITE_OK;
      if (std::holds_alternative<std::nullptr_t>(v)) rc = sqlite3_bind_null(st, idx);
      else if (auto p = std::get_if<std::int64_t>(&v)) rc = sqlite3_bind_int64(st, idx, *p);
      else if (auto p = std::get_if<double>(&v)) rc = sqlite3_bind_double(st, idx, *p);
      else {
        auto& s = std::get<std::string>(v);
        rc = sqlite3_bind_text(st, idx, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
      }
      if (rc != SQLITE_OK) return internal(std::string("sqlite bind: ") + sqlite3_errmsg(db_));
    }
    for (;;) {
      int rc = sqlite3_step(st);
      if (rc == SQLITE_DONE) break;
      if (rc == SQLITE_ROW) {
        if (!rows) continue;
        int n = sqlite3_column_count(st);
        std::vector<Value> cols;
        cols.reserve(n);
        for (int c = 0; c < n; ++c) {
          switch (sqlite3_column_type(st, c)) {
            case SQLITE_NULL: cols.emplace_back(nullptr); break;
            case SQLITE_INTEGER: cols.emplace_back(static_cast<std::int64_t>(sqlite3_column_int64(st, c))); break;
            case SQLITE_FLOAT: cols.emplace_back(sqlite3_column_double(st, c)); break;
            default: {
              auto* p = reinterpret_cast<const char*>(sqlite3_column_blob(st, c));
              int len = sqlite3_column_bytes(st, c);
              cols.emplace_back(std::string(p ? p : "", static_cast<std::size_t>(len)));
            }
          }
        }
        rows->emplace_back(std::move(cols));
        continue;
      }
      int ext = sqlite3_extended_errcode(db_);
      std::string msg = sqlite3_errmsg(db_);
      if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY)
        return fail(ErrorCode::kAlreadyExists, "already-exists", "already exists (" + msg + ")");
      if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
        return fail(ErrorCode::kUnavailable, "database-busy", "the database is busy; retry");
      if (rc == SQLITE_FULL) return fail(ErrorCode::kQuotaExceeded, "disk-full", "the server's disk is full");
      return internal("sqlite: " + msg);
    }
    if (stats_ && stats_->observe_query)
      stats_->observe_query(t0.seconds());
    return {};
  }

  static void on_update(void* self, int, const char*, const char* table, sqlite3_int64) {
    auto& t = static_cast<Conn*>(self)->touched_;
    for (auto& name : t)
      if (name == table) return;
    t.emplace_back(table);
  }

  sqlite3* db_;
  DbStats* stats_;
  std::vector<std::string> touched_;
  std::unordered_map<std::string, sqlite3_stmt*> cache_;
};

SqliteDatabase::SqliteDatabase(SqliteSettings s, DbStats stats) : settings_(std::move(s)), stats_(std::move(stats)) {}
SqliteDatabase::~SqliteDatabase() {
  if (wal_fd_ >= 0) ::close(wal_fd_);
}

bool SqliteDatabase::file_backed() const {
  // An in-memory or URI database has no WAL file of its own to flush.
  return !settings_.path.empty() && settings_.path != ":memory:" && !settings_.path.starts_with("file:");
}

bool SqliteDatabase::durable_commits() const { return settings_.synchronous != "normal" && file_backed(); }

Result<std::unique_ptr<SqliteDatabase>> SqliteDatabase::open(const SqliteSettings& settings, DbStats stats) {
  std::unique_ptr<SqliteDatabase> db(new SqliteDatabase(settings, std::move(stats)));
  auto c = TRY(db->acquire());  // opens the file, sets WAL: fails early on a bad path
  db->release(std::move(c));
  return db;
}

Result<std::unique_ptr<SqliteDatabase::Conn>> SqliteDatabase::acquire() {
  {
    std::lock_guard lock(pool_mu_);
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      return c;
    }
  }
  sqlite3* raw = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(settings_.path.c_str(), &raw, flags, nullptr) != SQLITE_OK) {
    std::string msg = raw ? sqlite3_errmsg(raw) : "out of memory";
    sqlite3_close_v2(raw);
    return fail(ErrorCode::kUnavailable, "database-unavailable", "cannot open database " + settings_.path + ": " + msg);
  }
  auto conn = std::make_unique<Conn>(raw, &stats_);
  sqlite3_busy_timeout(raw, settings_.busy_timeout_ms);
  sqlite3_extended_result_codes(raw, 1);
  // NORMAL in both modes: in "full" the commit is made durable by sync_through (group commit).
  TRY_STATUS(conn->exec_script("PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL;"));
  return conn;
}

void SqliteDatabase::release(std::unique_ptr<Conn> c) {
  std::lock_guard lock(pool_mu_);
  if (static_cast<int>(idle_.size()) < settings_.max_connections) idle_.push_back(std::move(c));
}

namespace {
// A transaction's body; an exception is a failure like any other (the transaction rolls back).
Status run_body(const std::function<Status(Tx&)>& fn, Tx& tx) {
  try {
    return fn(tx);
  } catch (const std::exception& e) {
    return internal(std::string("unexpected exception in transaction: ") + e.what());
  }
}
}  // namespace

Status SqliteDatabase::read_tx(const std::function<Status(Tx&)>& fn) {
  expect_blocking_allowed("db::Database::read_tx");
  auto conn = TRY(acquire());
  TRY_STATUS(conn->control("BEGIN"));
  Status st = run_body(fn, *conn);
  bool committed = false;
  if (st) {
    auto c = conn->control("COMMIT");
    if (!c) {
      (void)conn->control("ROLLBACK");
      st = c;
    } else {
      committed = true;
    }
  } else {
    (void)conn->control("ROLLBACK");
  }
  for (auto& hook : conn->take_end_hooks()) hook(committed);
  release(std::move(conn));
  return st;
}

// One SQLite transaction that holds one or more write transactions, each in its own savepoint.
struct SqliteDatabase::Batch {
  std::unique_ptr<Conn> conn;
  std::vector<std::function<void(bool)>> hooks;  // of the members that succeeded, in order
  std::vector<std::string> touched;               // tables they changed
  int members = 0;                                // write transactions that succeeded in it
  bool done = false;                              // committed, or failed as a whole
  Status result;                                  // the outcome when done
  std::uint64_t ticket = 0;                       // its commit number (group commit)
};

namespace {
constexpr int kMaxBatch = 64;  // bounds how long the first member waits for the batch's commit
}

Status SqliteDatabase::write_tx(const std::function<Status(Tx&)>& fn) {
  expect_blocking_allowed("db::Database::write_tx");
  return run_write(fn, false);
}
Status SqliteDatabase::write_tx_shared(const std::function<Status(Tx&)>& fn) {
  expect_blocking_allowed("db::Database::write_tx_shared");
  return run_write(fn, true);
}

// Ends the open batch: COMMIT it, or, when SQLite has already rolled it back, fail every member
// with `rolled_back`; then the members' end hooks in order and the commit number. Called with
// write_mu_ held.
void SqliteDatabase::finish_batch(std::optional<Error> rolled_back) {
  auto b = std::exchange(batch_, nullptr);
  if (rolled_back) {
    b->result = std::unexpected(std::move(*rolled_back));
  } else {
    b->result = b->conn->control("COMMIT");
    if (!b->result) (void)b->conn->control("ROLLBACK");
  }
  bool ok = bool(b->result);
  if (ok && b->members > 0) b->ticket = ++committed_;
  for (auto& hook : b->hooks) hook(ok);
  release(std::move(b->conn));
  b->done = true;
  batch_cv_.notify_all();
}

// Write transactions, with group commit: each runs in a savepoint of the open batch transaction
// (one is begun when none is open). One that succeeds and sees other writers queued behind the
// lock leaves the batch open for them and waits for its commit (write_tx_shared only); otherwise
// it commits the batch, its own work and that of everyone waiting in it. A member that fails is
// rolled back to its savepoint alone and answers at once; the others go on.
Status SqliteDatabase::run_write(const std::function<Status(Tx&)>& fn, bool shared) {
  ++waiting_writers_;
  std::unique_lock wlock(write_mu_);
  --waiting_writers_;
  if (!batch_) {
    auto conn = TRY(acquire());
    if (auto b = conn->control("BEGIN IMMEDIATE"); !b) {
      release(std::move(conn));
      return b;
    }
    (void)conn->take_touched();
    batch_ = std::make_shared<Batch>();
    batch_->conn = std::move(conn);
  }
  auto batch = batch_;
  Conn& conn = *batch->conn;
  Status st = conn.control("SAVEPOINT atrium_tx");
  if (st) st = run_body(fn, conn);
  if (st) st = conn.control("RELEASE atrium_tx");
  auto hooks = conn.take_end_hooks();
  if (!st) {
    (void)conn.control("ROLLBACK TO atrium_tx");
    (void)conn.control("RELEASE atrium_tx");
    (void)conn.take_touched();
    for (auto& hook : hooks) hook(false);
    if (sqlite3_get_autocommit(conn.handle())) {
      // SQLite ended the whole transaction (an I/O error, a full disk…): everyone in it failed.
      finish_batch(internal("the database rolled back the transaction: " + st.error().detail).error());
    } else if (waiting_writers_.load() == 0) {
      finish_batch(std::nullopt);  // commits the members before us, if any
      if (batch->ticket != 0) {
        wlock.unlock();
        (void)after_commit(*batch);  // they learn its outcome themselves; ours is `st`
      }
    }
    return st;
  }
  for (auto& t : conn.take_touched())
    if (std::find(batch->touched.begin(), batch->touched.end(), t) == batch->touched.end())
      batch->touched.push_back(std::move(t));
  for (auto& hook : hooks) batch->hooks.push_back(std::move(hook));
  ++batch->members;
  if (shared && waiting_writers_.load() > 0 && batch->members < kMaxBatch) {
    batch_cv_.wait(wlock, [&] { return batch->done; });  // a later member commits it
    wlock.unlock();
    if (!batch->result) return batch->result;
    return durable_commits() ? sync_through(batch->ticket) : Status{};
  }
  finish_batch(std::nullopt);
  wlock.unlock();
  if (!batch->result) return batch->result;
  return after_commit(*batch);
}

// The committer's part after the lock is released: durability, then the commit listener.
Status SqliteDatabase::after_commit(const Batch& b) {
  if (b.ticket != 0 && durable_commits()) TRY_STATUS(sync_through(b.ticket));
  if (commit_listener_ && b.members > 0) commit_listener_(b.touched);
  return {};
}

Status SqliteDatabase::sync_through(std::uint64_t ticket) {
  std::unique_lock lock(sync_mu_);
  while (synced_ < ticket) {
    if (syncing_) {
      // A flush is under way; it may have started before our commit was appended: wait for it to
      // finish, then look again (a failed flush is retried by the next waiter).
      auto gen = sync_generation_;
      sync_cv_.wait(lock, [&] { return sync_generation_ != gen; });
      continue;
    }
    syncing_ = true;
    // Every commit numbered up to `target` has been appended to the WAL (numbers are handed out
    // after COMMIT returned), so this flush covers them all.
    std::uint64_t target = committed_.load();
    lock.unlock();
    Stopwatch t0;
    Status result = flush_wal();
    if (result && stats_.observe_flush)
      stats_.observe_flush(t0.seconds(), target - synced_);  // synced_ is only written by the flusher: no race
    lock.lock();
    syncing_ = false;
    ++sync_generation_;
    if (result) synced_ = std::max(synced_, target);
    sync_cv_.notify_all();
    if (!result) return result;
  }
  return {};
}

Status SqliteDatabase::flush_wal() {
  // The WAL file is created by SQLite and kept while a connection is open (the pool always keeps
  // one); if it was removed and recreated, our descriptor would flush a dead inode: reopen then.
  struct stat st{};
  if (wal_fd_ >= 0 && (::fstat(wal_fd_, &st) != 0 || st.st_nlink == 0)) {
    ::close(wal_fd_);
    wal_fd_ = -1;
  }
  if (wal_fd_ < 0) {
    std::string wal = settings_.path + "-wal";
    wal_fd_ = ::open(wal.c_str(), O_RDONLY | O_CLOEXEC);
    if (wal_fd_ < 0) return internal("cannot open the database log " + wal + ": " + std::strerror(errno));
    // The WAL's directory entry must be durable too (SQLite does not sync the directory in WAL mode).
    TRY_STATUS(fsync_dir(std::filesystem::path(settings_.path).parent_path()));
  }
  if (::fdatasync(wal_fd_) != 0)
    return internal(std::string("flushing the database log failed: ") + std::strerror(errno));
  return {};
}


Status SqliteDatabase::migrate(std::string_view module, const std::vector<Migration>& migrations) {
  auto conn = TRY(acquire());
  TRY_STATUS(conn->exec_script(
      "CREATE TABLE IF NOT EXISTS schema_migrations (module TEXT NOT NULL, version INTEGER NOT NULL, "
      "name TEXT NOT NULL, applied_ms INTEGER NOT NULL, PRIMARY KEY (module, version))"));
  release(std::move(conn));
  for (const auto& m : migrations) {
    TRY_STATUS(write_tx([&](Tx& tx) -> Status {
      auto done = TRY(tx.query_one("SELECT 1 FROM schema_migrations WHERE module = ? AND version = ?",
                                   {std::string(module), std::int64_t{m.version}}));
      if (done) return {};
      // exec_script runs every statement of the migration inside this transaction.
      TRY_STATUS(static_cast<Conn&>(tx).exec_script(m.sql));
      TRY(tx.exec("INSERT INTO schema_migrations (module, version, name, applied_ms) VALUES (?, ?, ?, "
                  "CAST(strftime('%s','now') AS INTEGER) * 1000)",
                  {std::string(module), std::int64_t{m.version}, m.name}));
      return {};
    }));
  }
  return {};
}

}  // namespace atrium::db
