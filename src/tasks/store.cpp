#include "tasks/store.hpp"

#include "core/ids.hpp"

namespace atrium::tasks {

std::vector<db::Migration> migrations() {
  return {{1, "tasks", R"SQL(
CREATE TABLE tasks (id TEXT PRIMARY KEY, kind TEXT NOT NULL, key TEXT NOT NULL DEFAULT '', payload TEXT NOT NULL,
  state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, max_attempts INTEGER NOT NULL, run_at INTEGER NOT NULL,
  lease_until INTEGER, lease_token TEXT, last_error TEXT NOT NULL DEFAULT '', created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL, finished_at INTEGER, result TEXT);
CREATE UNIQUE INDEX tasks_key ON tasks(key) WHERE key <> '';
CREATE INDEX tasks_due ON tasks(state, run_at);
CREATE INDEX tasks_lease ON tasks(state, lease_until);
CREATE INDEX tasks_kind ON tasks(kind, id);
)SQL"}};
}

namespace store {
namespace {

constexpr const char* kInfoCols =
    "id, kind, key, state, attempts, max_attempts, run_at, lease_until, last_error, created_at, updated_at, finished_at, "
    "result";

Info info_from(const db::Row& r) {
  return {.id = r.str(0),
          .kind = r.str(1),
          .key = r.str(2),
          .state = r.str(3),
          .attempts = static_cast<int>(r.i64(4)),
          .max_attempts = static_cast<int>(r.i64(5)),
          .run_at = r.i64(6),
          .lease_until = r.opt_i64(7),
          .last_error = r.str(8),
          .created_at = r.i64(9),
          .updated_at = r.i64(10),
          .finished_at = r.opt_i64(11),
          .result = r.is_null(12) ? nlohmann::json(nullptr) : nlohmann::json::parse(r.str(12), nullptr, false)};
}

// "(?, ?, ?)" for n values, appended to `params`.
std::string in_list(const std::vector<std::string>& values, db::Params& params) {
  std::string s = "(";
  for (auto& v : values) {
    s += s.size() > 1 ? ", ?" : "?";
    params.emplace_back(v);
  }
  return s + ")";
}

}  // namespace

Result<std::string> insert(db::Tx& tx, const NewTask& t, Millis now) {
  if (!t.key.empty())
    if (auto row = TRY(tx.query_one("SELECT id FROM tasks WHERE key = ?", {t.key}))) return row->str(0);
  std::string id = new_id("tsk", now);
  TRY(tx.exec(
      "INSERT INTO tasks (id, kind, key, payload, state, attempts, max_attempts, run_at, created_at, updated_at) "
      "VALUES (?, ?, ?, ?, 'queued', 0, ?, ?, ?, ?)",
      {id, t.kind, t.key, t.payload.dump(), std::int64_t{t.max_attempts}, std::max(now, t.not_before), now, now}));
  return id;
}

// SQLite has one writer: the SELECT and the UPDATE below run under the database's write lock, so
// two workers never claim the same task. PostgreSQL (several replicas) will need the SELECT to be
// `... FOR UPDATE SKIP LOCKED` so that concurrent claimers pass over each other's rows.
Result<ClaimResult> claim(db::Tx& tx, const std::vector<std::string>& kinds, const std::string& token, Millis now,
                          Millis lease_ms) {
  ClaimResult out;
  if (kinds.empty()) return out;
  for (int tries = 0; tries < 64; ++tries) {
    db::Params p;
    std::string kinds_in = in_list(kinds, p);
    p.insert(p.end(), {now, now});
    auto row = TRY(tx.query_one(
        "SELECT id, kind, key, payload, state, attempts, max_attempts FROM tasks WHERE kind IN " + kinds_in +
            " AND ((state = 'queued' AND run_at <= ?) OR (state = 'running' AND lease_until <= ?))"
            " ORDER BY run_at, id LIMIT 1",
        p));
    if (!row) break;
    std::string id = row->str(0);
    int attempts = static_cast<int>(row->i64(5)), max_attempts = static_cast<int>(row->i64(6));
    bool expired = row->str(4) == "running";
    if (expired && attempts >= max_attempts) {  // the last attempt's worker died: no attempt is left
      TRY(tx.exec("UPDATE tasks SET state = 'dead', lease_until = NULL, lease_token = NULL, last_error = ?, "
                  "updated_at = ?, finished_at = ? WHERE id = ?",
                  {"attempt " + std::to_string(attempts) + " did not finish (its lease expired)", now, now, id}));
      continue;
    }
    std::string note = expired ? "attempt " + std::to_string(attempts) + " did not finish (its lease expired)" : "";
    TRY(tx.exec("UPDATE tasks SET state = 'running', attempts = attempts + 1, lease_until = ?, lease_token = ?, "
                "last_error = CASE WHEN ? = '' THEN last_error ELSE ? END, updated_at = ? WHERE id = ?",
                {now + lease_ms, token, note, note, now, id}));
    auto payload = nlohmann::json::parse(row->str(3), nullptr, false);
    if (payload.is_discarded()) payload = nlohmann::json::object();
    out.claim = Claim{Task{id, row->str(1), row->str(2), std::move(payload), attempts + 1, max_attempts}, token};
    return out;
  }
  db::Params p;
  std::string kinds_in = in_list(kinds, p);
  auto row = TRY(tx.query_one("SELECT MIN(CASE WHEN state = 'queued' THEN run_at ELSE lease_until END) FROM tasks "
                              "WHERE state IN ('queued', 'running') AND kind IN " + kinds_in,
                              p));
  if (row && !row->is_null(0)) out.next = row->i64(0);
  return out;
}

Result<bool> succeed(db::Tx& tx, const std::string& id, const std::string& token, Millis now,
                     const nlohmann::json& result) {
  return TRY(tx.exec("UPDATE tasks SET state = 'succeeded', lease_until = NULL, lease_token = NULL, updated_at = ?, "
                     "finished_at = ?, result = ? WHERE id = ? AND lease_token = ? AND state = 'running'",
                     {now, now, result.is_null() ? db::Value(nullptr) : db::Value(result.dump()), id, token})) > 0;
}

Status clear_payload(db::Tx& tx, const std::string& id) {
  TRY(tx.exec("UPDATE tasks SET payload = '{}' WHERE id = ?", {id}));
  return {};
}

Result<bool> requeue(db::Tx& tx, const std::string& id, const std::string& token, const std::string& error,
                     Millis run_at, Millis now) {
  return TRY(tx.exec("UPDATE tasks SET state = 'queued', run_at = ?, lease_until = NULL, lease_token = NULL, "
                     "last_error = ?, updated_at = ? WHERE id = ? AND lease_token = ? AND state = 'running'",
                     {run_at, error, now, id, token})) > 0;
}

Result<bool> bury(db::Tx& tx, const std::string& id, const std::string& token, const std::string& error, Millis now) {
  return TRY(tx.exec("UPDATE tasks SET state = 'dead', lease_until = NULL, lease_token = NULL, last_error = ?, "
                     "updated_at = ?, finished_at = ? WHERE id = ? AND lease_token = ? AND state = 'running'",
                     {error, now, now, id, token})) > 0;
}

Status renew(db::Tx& tx, const std::vector<std::string>& tokens, Millis until) {
  if (tokens.empty()) return {};
  db::Params p{until};
  std::string in = in_list(tokens, p);
  TRY(tx.exec("UPDATE tasks SET lease_until = ? WHERE state = 'running' AND lease_token IN " + in, p));
  return {};
}

Result<std::int64_t> purge_done(db::Tx& tx, Millis before) {
  return tx.exec("DELETE FROM tasks WHERE state = 'succeeded' AND finished_at < ?", {before});
}

Result<std::map<std::string, std::int64_t>> count_by_state(db::Tx& tx) {
  std::map<std::string, std::int64_t> out{{"queued", 0}, {"running", 0}, {"succeeded", 0}, {"dead", 0}};
  for (auto& r : TRY(tx.query("SELECT state, COUNT(*) FROM tasks GROUP BY state"))) out[r.str(0)] = r.i64(1);
  return out;
}

Result<std::map<std::string, std::int64_t>> unknown_kinds(db::Tx& tx, const std::vector<std::string>& kinds) {
  db::Params p;
  std::string in = kinds.empty() ? "('')" : in_list(kinds, p);
  std::map<std::string, std::int64_t> out;
  for (auto& r : TRY(tx.query("SELECT kind, COUNT(*) FROM tasks WHERE state IN ('queued', 'running') AND kind NOT IN " +
                                  in + " GROUP BY kind",
                              p)))
    out[r.str(0)] = r.i64(1);
  return out;
}

Result<std::vector<Info>> list(db::Tx& tx, const ListFilter& f) {
  std::string sql = std::string("SELECT ") + kInfoCols + " FROM tasks WHERE id > ?";
  db::Params p{f.after};
  if (!f.state.empty()) {
    sql += " AND state = ?";
    p.emplace_back(f.state);
  }
  if (!f.kind.empty()) {
    sql += " AND kind = ?";
    p.emplace_back(f.kind);
  }
  sql += " ORDER BY id LIMIT ?";
  p.emplace_back(std::int64_t{f.limit});
  std::vector<Info> out;
  for (auto& r : TRY(tx.query(sql, p))) out.push_back(info_from(r));
  return out;
}

Result<std::optional<Info>> get(db::Tx& tx, const std::string& column, const std::string& value) {
  std::string where = column == "key" ? "key" : "id";
  auto row = TRY(tx.query_one(std::string("SELECT ") + kInfoCols + " FROM tasks WHERE " + where + " = ?", {value}));
  if (!row) return std::optional<Info>();
  return std::optional<Info>(info_from(*row));
}

Result<bool> reset_dead(db::Tx& tx, const std::string& id, Millis now) {
  return TRY(tx.exec("UPDATE tasks SET state = 'queued', attempts = 0, run_at = ?, updated_at = ?, finished_at = NULL, "
                     "result = NULL "
                     "WHERE id = ? AND state = 'dead'",
                     {now, now, id})) > 0;
}

Result<bool> delete_dead(db::Tx& tx, const std::string& id) {
  return TRY(tx.exec("DELETE FROM tasks WHERE id = ? AND state = 'dead'", {id})) > 0;
}

}  // namespace store
}  // namespace atrium::tasks
