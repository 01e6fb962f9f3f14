#include "envs/store.hpp"

#include <map>

#include "audit/audit.hpp"
#include "core/crypto.hpp"
#include "envs/apps.hpp"
#include "envs/store_view.hpp"

namespace atrium::envs {

namespace {

using nlohmann::json;

constexpr const char* kCols =
    "id, project_id, org_id, group_id, user_id, app, job_id, state, reason, spec, created_ms, ready_ms, ended_ms, "
    "last_activity_ms, stop_requested, version";

// "state IN ('QUEUED', 'STARTING', 'READY', 'STOPPING')": the active states, from the state machine.
std::string active_in() {
  std::string s = "state IN (";
  for (auto st : kAllEnvStates)
    if (is_active(st)) s += (s.back() == '(' ? "'" : ", '") + std::string(state_name(st)) + "'";
  return s + ")";
}

App app_from_row(const db::Row& row) {
  // Stored as the admin's JSON; validated when it was stored.
  auto j = json::parse(row.str(1), nullptr, false);
  App base;
  const App* builtin = nullptr;
  for (auto& b : builtin_apps())
    if (b.name == row.str(0)) builtin = &b;
  auto a = app_from_json(row.str(0), j, builtin);
  App out = a ? *a : (builtin ? *builtin : base);
  out.version = row.i64(2);
  return out;
}

EnvRecord from_row(const db::Row& r) {
  EnvRecord e;
  e.id = r.str(0);
  e.project_id = r.str(1);
  e.org_id = r.str(2);
  e.group_id = r.str(3);
  e.user_id = r.str(4);
  e.app = r.str(5);
  e.job_id = r.str(6);
  e.state = parse_state(r.str(7)).value_or(EnvState::kFailed);
  e.reason = r.str(8);
  e.spec = json::parse(r.str(9), nullptr, false);
  if (e.spec.is_discarded()) e.spec = json::object();
  e.created = r.i64(10);
  e.ready = r.opt_i64(11);
  e.ended = r.opt_i64(12);
  e.last_activity = r.i64(13);
  e.stop_requested = r.str(14);
  e.version = r.i64(15);
  return e;
}

}  // namespace

std::vector<db::Migration> migrations() {
  return {{1, "apps and environments", R"SQL(
CREATE TABLE env_apps (name TEXT PRIMARY KEY, spec TEXT NOT NULL, version INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL);
CREATE TABLE envs (id TEXT PRIMARY KEY, project_id TEXT NOT NULL, org_id TEXT NOT NULL, group_id TEXT NOT NULL,
  user_id TEXT NOT NULL, app TEXT NOT NULL, job_id TEXT NOT NULL, state TEXT NOT NULL, reason TEXT NOT NULL,
  spec TEXT NOT NULL, created_ms INTEGER NOT NULL, ready_ms INTEGER, ended_ms INTEGER,
  last_activity_ms INTEGER NOT NULL, stop_requested TEXT NOT NULL DEFAULT '', version INTEGER NOT NULL);
CREATE INDEX envs_project ON envs(project_id, id);
CREATE INDEX envs_user ON envs(user_id, id);
CREATE INDEX envs_job ON envs(job_id);
CREATE TABLE env_events (env_id TEXT NOT NULL, seq INTEGER NOT NULL, time_ms INTEGER NOT NULL, state TEXT NOT NULL,
  event TEXT NOT NULL, detail TEXT NOT NULL, PRIMARY KEY (env_id, seq));
CREATE TABLE env_links (id TEXT PRIMARY KEY, env_id TEXT NOT NULL, secret_hash TEXT NOT NULL UNIQUE,
  created_by TEXT NOT NULL, created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL, revoked_ms INTEGER);
CREATE INDEX env_links_env ON env_links(env_id);
)SQL"},
          view_migration()};
}

Result<std::optional<App>> get_app(db::Tx& tx, const std::string& name) {
  auto row = TRY(tx.query_one("SELECT name, spec, version FROM env_apps WHERE name = ?", {name}));
  if (row) return std::optional<App>(app_from_row(*row));
  for (auto& b : builtin_apps())
    if (b.name == name) return std::optional<App>(b);
  return std::optional<App>();
}

Result<std::vector<App>> list_apps(db::Tx& tx) {
  std::map<std::string, App> by_name;
  for (auto& b : builtin_apps()) by_name[b.name] = b;
  for (auto& row : TRY(tx.query("SELECT name, spec, version FROM env_apps ORDER BY name"))) {
    App a = app_from_row(row);
    by_name[a.name] = a;
  }
  std::vector<App> out;
  for (auto& [_, a] : by_name) out.push_back(a);
  return out;
}

Status put_app(db::Tx& tx, const Actor& actor, const App& a, Millis now) {
  json spec = to_json(a);
  for (auto k : {"name", "builtin", "etag"}) spec.erase(k);
  TRY(tx.exec(
      "INSERT INTO env_apps (name, spec, version, updated_ms) VALUES (?, ?, 1, ?) "
      "ON CONFLICT(name) DO UPDATE SET spec = excluded.spec, version = env_apps.version + 1, updated_ms = excluded.updated_ms",
      {a.name, spec.dump(), now}));
  return audit::record(tx, actor, {"", a.version ? "app.update" : "app.create", "app", a.name, spec}, now);
}

Status delete_app(db::Tx& tx, const Actor& actor, const std::string& name, Millis now) {
  TRY(tx.exec("DELETE FROM env_apps WHERE name = ?", {name}));
  return audit::record(tx, actor, {"", "app.delete", "app", name, json::object()}, now);
}

Result<std::optional<EnvRecord>> get_env(db::Tx& tx, const std::string& id) {
  auto row = TRY(tx.query_one(std::string("SELECT ") + kCols + " FROM envs WHERE id = ?", {id}));
  if (!row) return std::optional<EnvRecord>();
  return std::optional<EnvRecord>(from_row(*row));
}

Result<std::vector<EnvRecord>> list_envs(db::Tx& tx, const ListFilter& f) {
  std::string sql = std::string("SELECT ") + kCols + " FROM envs WHERE id > ?";
  db::Params ps{f.after};
  if (!f.project_id.empty()) {
    sql += " AND project_id = ?";
    ps.push_back(f.project_id);
  }
  if (!f.user_id.empty()) {
    sql += " AND user_id = ?";
    ps.push_back(f.user_id);
  }
  if (!f.org_id.empty()) {
    sql += " AND org_id = ?";
    ps.push_back(f.org_id);
  }
  if (f.active_only) sql += " AND " + active_in();
  sql += " ORDER BY id LIMIT ?";
  ps.push_back(std::int64_t{f.limit});
  std::vector<EnvRecord> out;
  for (auto& r : TRY(tx.query(sql, ps))) out.push_back(from_row(r));
  return out;
}

Result<std::int64_t> active_count(db::Tx& tx, const std::string& org_id, const std::string& kind,
                                  const std::string& subject_id) {
  std::string col = kind == "org" ? "org_id" : kind == "group" ? "group_id" : "user_id";
  auto n = TRY(tx.query_one("SELECT COUNT(*) FROM envs WHERE org_id = ? AND " + col + " = ? AND " + active_in(),
                            {org_id, subject_id}));
  return n->i64(0);
}

Result<json> env_events(db::Tx& tx, const std::string& id, std::int64_t after_seq) {
  json out = json::array();
  for (auto& r : TRY(tx.query("SELECT seq, time_ms, state, event, detail FROM env_events WHERE env_id = ? AND seq > ? "
                              "ORDER BY seq LIMIT 1000",
                              {id, after_seq})))
    out.push_back({{"seq", r.i64(0)},
                   {"time", format_rfc3339(r.i64(1))},
                   {"state", r.str(2)},
                   {"event", r.str(3)},
                   {"detail", r.str(4)}});
  return out;
}

Result<std::optional<std::string>> env_of_job(db::Tx& tx, const std::string& job_id) {
  auto row = TRY(tx.query_one("SELECT id FROM envs WHERE job_id = ?", {job_id}));
  if (!row) return std::optional<std::string>();
  return std::optional<std::string>(row->str(0));
}

Status insert_env(db::Tx& tx, const EnvRecord& e) {
  TRY(tx.exec(std::string("INSERT INTO envs (") + kCols + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?, '', 1)",
              {e.id, e.project_id, e.org_id, e.group_id, e.user_id, e.app, e.job_id, e.state_text(), e.reason,
               e.spec.dump(), e.created, e.last_activity}));
  return {};
}

Status add_event(db::Tx& tx, const std::string& id, EnvState state, const std::string& event, const std::string& detail,
                 Millis now) {
  TRY(tx.exec(
      "INSERT INTO env_events (env_id, seq, time_ms, state, event, detail) "
      "VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM env_events WHERE env_id = ?), ?, ?, ?, ?)",
      {id, id, now, std::string(state_name(state)), event, detail.substr(0, 4000)}));
  return {};
}

Status set_state(db::Tx& tx, const std::string& id, EnvState to, const std::string& reason, Millis now) {
  bool terminal = !is_active(to);
  TRY(tx.exec("UPDATE envs SET state = ?, reason = ?, version = version + 1, ready_ms = COALESCE(ready_ms, ?), "
              "ended_ms = ? WHERE id = ?",
              {std::string(state_name(to)), reason.substr(0, 2000),
               to == EnvState::kReady ? db::Value(now) : db::Value(nullptr),
               terminal ? db::Value(now) : db::Value(nullptr), id}));
  return {};
}

Status set_stopping(db::Tx& tx, const std::string& id, const std::string& why) {
  TRY(tx.exec("UPDATE envs SET state = 'STOPPING', reason = ?, stop_requested = ?, version = version + 1 WHERE id = ?",
              {why, why, id}));
  return {};
}

Status set_stop_requested(db::Tx& tx, const std::string& id, const std::string& why) {
  TRY(tx.exec("UPDATE envs SET stop_requested = ? WHERE id = ?", {why, id}));
  return {};
}

Status set_queued_reason(db::Tx& tx, const std::string& id, const std::string& text) {
  TRY(tx.exec("UPDATE envs SET reason = ? WHERE id = ? AND state = 'QUEUED'", {text, id}));
  return {};
}

Status raise_last_activity(db::Tx& tx, const std::string& id, Millis t) {
  TRY(tx.exec("UPDATE envs SET last_activity_ms = MAX(last_activity_ms, ?) WHERE id = ?", {t, id}));
  return {};
}

Status insert_link(db::Tx& tx, const LinkRecord& l) {
  TRY(tx.exec("INSERT INTO env_links (id, env_id, secret_hash, created_by, created_ms, expires_ms) "
              "VALUES (?, ?, ?, ?, ?, ?)",
              {l.id, l.env_id, l.secret_hash, l.created_by, l.created, l.expires}));
  return {};
}

Result<json> list_links(db::Tx& tx, const std::string& env_id) {
  json items = json::array();
  for (auto& r : TRY(tx.query("SELECT id, created_by, created_ms, expires_ms, revoked_ms FROM env_links "
                              "WHERE env_id = ? ORDER BY id",
                              {env_id})))
    items.push_back({{"id", r.str(0)},
                     {"created_by", r.str(1)},
                     {"created_at", format_rfc3339(r.i64(2))},
                     {"expires_at", format_rfc3339(r.i64(3))},
                     {"revoked_at", r.is_null(4) ? json(nullptr) : json(format_rfc3339(r.i64(4)))}});
  return items;
}

Result<Revoked> revoke_link(db::Tx& tx, const std::string& env_id, const std::string& link_id, Millis now) {
  auto n = TRY(tx.exec("UPDATE env_links SET revoked_ms = ? WHERE id = ? AND env_id = ? AND revoked_ms IS NULL",
                       {now, link_id, env_id}));
  if (n > 0) return Revoked::kNow;
  auto row = TRY(tx.query_one("SELECT id FROM env_links WHERE id = ? AND env_id = ?", {link_id, env_id}));
  return row ? Revoked::kAlready : Revoked::kUnknown;
}

Result<std::optional<std::string>> guest_link(db::Tx& tx, const std::string& env_id, const std::string& secret,
                                              Millis now) {
  if (secret.empty() || secret.size() > 200) return std::optional<std::string>();
  auto row = TRY(tx.query_one(
      "SELECT id FROM env_links WHERE secret_hash = ? AND env_id = ? AND revoked_ms IS NULL AND expires_ms > ?",
      {crypto::sha256_hex(secret), env_id, now}));
  if (!row) return std::optional<std::string>();
  return std::optional<std::string>(row->str(0));
}

}  // namespace atrium::envs
