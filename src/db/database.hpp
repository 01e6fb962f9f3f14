// The storage interface every module uses: transactions of parameterised SQL, one driver per
// engine (sqlite/ now, postgres/ later). SQL uses `?` placeholders; a driver translates them.
// Every call blocks: callers run on the worker pool, never on an I/O thread.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "core/error.hpp"

namespace atrium::db {

using Value = std::variant<std::nullptr_t, std::int64_t, double, std::string>;

// Helpers to pass optional values.
inline Value opt(const std::optional<std::string>& s) { return s ? Value(*s) : Value(nullptr); }
inline Value opt(const std::optional<std::int64_t>& v) { return v ? Value(*v) : Value(nullptr); }

class Row {
 public:
  explicit Row(std::vector<Value> cols) : cols_(std::move(cols)) {}
  std::size_t size() const { return cols_.size(); }
  bool is_null(std::size_t i) const { return std::holds_alternative<std::nullptr_t>(cols_.at(i)); }
  std::int64_t i64(std::size_t i) const;
  double f64(std::size_t i) const;
  std::string str(std::size_t i) const;  // NULL -> ""
  std::optional<std::string> opt_str(std::size_t i) const;
  std::optional<std::int64_t> opt_i64(std::size_t i) const;
  const Value& at(std::size_t i) const { return cols_.at(i); }

 private:
  std::vector<Value> cols_;
};
using Rows = std::vector<Row>;
using Params = std::vector<Value>;

// A transaction. Statements run in order; nothing is visible to others until the driver commits.
class Tx {
 public:
  virtual ~Tx() = default;
  virtual Result<Rows> query(std::string_view sql, const Params& params = {}) = 0;
  // Runs a statement, returns the number of rows it changed.
  virtual Result<std::int64_t> exec(std::string_view sql, const Params& params = {}) = 0;
  Result<std::optional<Row>> query_one(std::string_view sql, const Params& params = {});

  // Runs `f(committed)` once this transaction's outcome is known (its rollback, or the commit
  // that made it durable-to-be, shared or not), before the writer lock is released: in-memory
  // state that mirrors the database changes in commit order, and a rollback can undo what the
  // transaction did in memory.
  void on_end(std::function<void(bool committed)> f) { end_hooks_.push_back(std::move(f)); }
  std::vector<std::function<void(bool)>> take_end_hooks() { return std::exchange(end_hooks_, {}); }

 private:
  std::vector<std::function<void(bool)>> end_hooks_;
};

struct Migration {
  int version;        // per module, 1, 2, 3 ... applied in order, each once
  std::string name;
  std::string sql;    // one or more statements
};

struct DbStats {
  std::function<void(double seconds)> observe_query;  // DB time histogram, set by the app
  // One group-commit flush of the log: its duration and how many commits it made durable.
  std::function<void(double seconds, std::uint64_t commits)> observe_flush;
};

class Database {
 public:
  virtual ~Database() = default;
  virtual std::string_view dialect() const = 0;

  // Runs fn in a write transaction and commits when it returns success; a failure (or an
  // exception) rolls back. When this returns success the change is durable.
  virtual Status write_tx(const std::function<Status(Tx&)>& fn) = 0;
  // A write transaction that may share its commit with concurrent ones (group commit): it returns
  // when the shared commit is durable. The caller must hold no lock that another transaction's
  // code may take while it waits. By default, write_tx.
  virtual Status write_tx_shared(const std::function<Status(Tx&)>& fn) { return write_tx(fn); }
  // A read-only snapshot.
  virtual Status read_tx(const std::function<Status(Tx&)>& fn) = 0;
  // Whether the database answers a trivial query now (readiness probes).
  Status ping() {
    return read_tx([](Tx& tx) -> Status {
      auto r = tx.query("SELECT 1");
      if (!r) return std::unexpected(r.error());
      return {};
    });
  }
  // Applies each module's pending migrations in one transaction per migration.
  virtual Status migrate(std::string_view module, const std::vector<Migration>& migrations) = 0;
  // Called after every committed write transaction with the tables whose rows it changed (caches
  // use it to drop what may be stale); a driver that cannot tell passes {"*"}. Set once at startup,
  // before concurrent use.
  using CommitListener = std::function<void(const std::vector<std::string>& tables)>;
  void set_commit_listener(CommitListener f) { commit_listener_ = std::move(f); }

  template <typename F>
  auto write(F&& f) -> decltype(f(std::declval<Tx&>())) {
    using R = decltype(f(std::declval<Tx&>()));
    std::optional<R> out;
    auto st = write_tx([&](Tx& tx) -> Status {
      out.emplace(f(tx));
      if (!*out) return std::unexpected(out->error());
      return {};
    });
    if (!st) return std::unexpected(st.error());
    return std::move(*out);
  }
  template <typename F>
  auto read(F&& f) -> decltype(f(std::declval<Tx&>())) {
    using R = decltype(f(std::declval<Tx&>()));
    std::optional<R> out;
    auto st = read_tx([&](Tx& tx) -> Status {
      out.emplace(f(tx));
      if (!*out) return std::unexpected(out->error());
      return {};
    });
    if (!st) return std::unexpected(st.error());
    return std::move(*out);
  }

 protected:
  CommitListener commit_listener_;
};

}  // namespace atrium::db
