#include "envs/store_view.hpp"

namespace atrium::envs {

using nlohmann::json;

db::Migration view_migration() {
  return {2, "project views, sync reports and home sizes", R"SQL(
CREATE TABLE env_view_files (env_id TEXT NOT NULL, path TEXT NOT NULL, blob_id TEXT NOT NULL, size INTEGER NOT NULL,
  ctime_ns INTEGER NOT NULL, PRIMARY KEY (env_id, path));
CREATE TABLE env_syncs (env_id TEXT PRIMARY KEY, time_ms INTEGER NOT NULL, report TEXT NOT NULL);
CREATE TABLE env_homes (project_id TEXT NOT NULL, user_id TEXT NOT NULL, org_id TEXT NOT NULL, group_id TEXT NOT NULL,
  bytes INTEGER NOT NULL, measured_ms INTEGER NOT NULL, PRIMARY KEY (project_id, user_id));
CREATE INDEX env_homes_org ON env_homes(org_id);
)SQL"};
}

Result<std::map<std::string, ViewEntry>> view_entries(db::Tx& tx, const std::string& env_id) {
  std::map<std::string, ViewEntry> out;
  for (auto& r : TRY(tx.query("SELECT path, blob_id, size, ctime_ns FROM env_view_files WHERE env_id = ?", {env_id})))
    out[r.str(0)] = ViewEntry{r.str(1), r.i64(2), r.i64(3)};
  return out;
}

Status put_view_entry(db::Tx& tx, const std::string& env_id, const std::string& path, const ViewEntry& v) {
  TRY(tx.exec("INSERT INTO env_view_files (env_id, path, blob_id, size, ctime_ns) VALUES (?, ?, ?, ?, ?) "
              "ON CONFLICT(env_id, path) DO UPDATE SET blob_id = excluded.blob_id, size = excluded.size, "
              "ctime_ns = excluded.ctime_ns",
              {env_id, path, v.blob_id, v.size, v.ctime_ns}));
  return {};
}

Status drop_view_entry(db::Tx& tx, const std::string& env_id, const std::string& path) {
  TRY(tx.exec("DELETE FROM env_view_files WHERE env_id = ? AND path = ?", {env_id, path}));
  return {};
}

Status drop_view(db::Tx& tx, const std::string& env_id) {
  TRY(tx.exec("DELETE FROM env_view_files WHERE env_id = ?", {env_id}));
  return {};
}

Status put_sync_report(db::Tx& tx, const std::string& env_id, Millis at, const json& report) {
  TRY(tx.exec("INSERT INTO env_syncs (env_id, time_ms, report) VALUES (?, ?, ?) "
              "ON CONFLICT(env_id) DO UPDATE SET time_ms = excluded.time_ms, report = excluded.report",
              {env_id, at, report.dump()}));
  return {};
}

Result<std::map<std::string, json>> sync_reports(db::Tx& tx) {
  std::map<std::string, json> out;
  for (auto& r : TRY(tx.query("SELECT env_id, report FROM env_syncs"))) {
    auto j = json::parse(r.str(1), nullptr, false);
    if (!j.is_discarded()) out[r.str(0)] = std::move(j);
  }
  return out;
}

Status put_home_size(db::Tx& tx, const HomeSize& h) {
  TRY(tx.exec("INSERT INTO env_homes (project_id, user_id, org_id, group_id, bytes, measured_ms) VALUES (?, ?, ?, ?, ?, ?) "
              "ON CONFLICT(project_id, user_id) DO UPDATE SET org_id = excluded.org_id, group_id = excluded.group_id, "
              "bytes = excluded.bytes, measured_ms = excluded.measured_ms",
              {h.project_id, h.user_id, h.org_id, h.group_id, h.bytes, h.measured}));
  return {};
}

Result<std::int64_t> homes_bytes(db::Tx& tx, const std::string& org_id, const std::string& kind,
                                 const std::string& subject_id) {
  std::string col = kind == "org" ? "org_id" : kind == "group" ? "group_id" : "user_id";
  auto r = TRY(tx.query_one("SELECT COALESCE(SUM(bytes), 0) FROM env_homes WHERE org_id = ? AND " + col + " = ?",
                            {org_id, subject_id}));
  return r ? r->i64(0) : 0;
}

Result<std::optional<HomeSize>> home_size(db::Tx& tx, const std::string& project_id, const std::string& user_id) {
  auto r = TRY(tx.query_one("SELECT org_id, group_id, bytes, measured_ms FROM env_homes WHERE project_id = ? AND user_id = ?",
                            {project_id, user_id}));
  if (!r) return std::optional<HomeSize>();
  return std::optional<HomeSize>(HomeSize{project_id, user_id, r->str(0), r->str(1), r->i64(2), r->i64(3)});
}

}  // namespace atrium::envs
