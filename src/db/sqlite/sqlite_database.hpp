// SQLite driver: WAL, synchronous=FULL by default, busy timeout, a pool of connections each with
// cached prepared statements, and one writer at a time (a mutex before BEGIN IMMEDIATE, so writers
// queue in-process instead of spinning on SQLITE_BUSY).
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "db/database.hpp"

namespace atrium::db {

struct SqliteSettings {
  std::string path;                  // file path, or ":memory:"-like temp for tests
  std::string synchronous = "full";  // full | normal
  int busy_timeout_ms = 5000;
  int max_connections = 16;
};

class SqliteDatabase final : public Database {
 public:
  static Result<std::unique_ptr<SqliteDatabase>> open(const SqliteSettings& settings, DbStats stats = {});
  ~SqliteDatabase() override;

  std::string_view dialect() const override { return "sqlite"; }
  Status write_tx(const std::function<Status(Tx&)>& fn) override;
  Status read_tx(const std::function<Status(Tx&)>& fn) override;
  Status migrate(std::string_view module, const std::vector<Migration>& migrations) override;

  class Conn;

 private:
  SqliteDatabase(SqliteSettings s, DbStats stats);
  Result<std::unique_ptr<Conn>> acquire();
  void release(std::unique_ptr<Conn> c);
  Status run_tx(bool write, const std::function<Status(Tx&)>& fn);

  SqliteSettings settings_;
  DbStats stats_;
  std::mutex pool_mu_;
  std::vector<std::unique_ptr<Conn>> idle_;  // GUARDED_BY(pool_mu_)
  std::mutex write_mu_;                      // one writer at a time
};

}  // namespace atrium::db
