#include "db/sqlite/sqlite_database.hpp"

#include <sqlite3.h>

#include <chrono>
#include <unordered_map>

namespace atrium::db {

class SqliteDatabase::Conn final : public Tx {
 public:
  Conn(sqlite3* db, DbStats* stats) : db_(db), stats_(stats) {}
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
    auto t0 = std::chrono::steady_clock::now();
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
      stats_->observe_query(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    return {};
  }

  sqlite3* db_;
  DbStats* stats_;
  std::unordered_map<std::string, sqlite3_stmt*> cache_;
};

SqliteDatabase::SqliteDatabase(SqliteSettings s, DbStats stats) : settings_(std::move(s)), stats_(std::move(stats)) {}
SqliteDatabase::~SqliteDatabase() = default;

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
  TRY_STATUS(conn->exec_script("PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON; PRAGMA synchronous=" +
                               std::string(settings_.synchronous == "normal" ? "NORMAL" : "FULL") + ";"));
  return conn;
}

void SqliteDatabase::release(std::unique_ptr<Conn> c) {
  std::lock_guard lock(pool_mu_);
  if (static_cast<int>(idle_.size()) < settings_.max_connections) idle_.push_back(std::move(c));
}

Status SqliteDatabase::run_tx(bool write, const std::function<Status(Tx&)>& fn) {
  auto conn = TRY(acquire());
  std::unique_lock<std::mutex> wlock(write_mu_, std::defer_lock);
  if (write) wlock.lock();
  TRY_STATUS(conn->control(write ? "BEGIN IMMEDIATE" : "BEGIN"));
  Status st;
  try {
    st = fn(*conn);
  } catch (const std::exception& e) {
    st = internal(std::string("unexpected exception in transaction: ") + e.what());
  }
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
  if (committed && write && commit_listener_) commit_listener_();
  return st;
}

Status SqliteDatabase::write_tx(const std::function<Status(Tx&)>& fn) { return run_tx(true, fn); }
Status SqliteDatabase::read_tx(const std::function<Status(Tx&)>& fn) { return run_tx(false, fn); }

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
