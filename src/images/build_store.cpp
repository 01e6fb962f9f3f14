// Table image_builds: every build request (running, ready or failed) and the cache index (the
// inputs hash of each ready build). All of the builds' SQL.
#include "images/build_store.hpp"

namespace atrium::images {

using nlohmann::json;

std::vector<db::Migration> build_migrations() {
  return {{1, "image builds",
           "CREATE TABLE image_builds ("
           " id TEXT PRIMARY KEY, org_id TEXT NOT NULL, project_id TEXT NOT NULL, group_id TEXT NOT NULL,"
           " name TEXT NOT NULL, spec_path TEXT NOT NULL, ref TEXT NOT NULL, commit_id TEXT NOT NULL,"
           " base_digest TEXT NOT NULL, inputs_hash TEXT NOT NULL, job_id TEXT NOT NULL DEFAULT '',"
           " state TEXT NOT NULL, error TEXT NOT NULL DEFAULT '', image_id TEXT NOT NULL DEFAULT '',"
           " digest TEXT NOT NULL DEFAULT '', inputs TEXT NOT NULL, created_by TEXT NOT NULL,"
           " created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL);"
           "CREATE INDEX image_builds_hash ON image_builds (org_id, inputs_hash, state);"
           "CREATE INDEX image_builds_job ON image_builds (job_id);"
           "CREATE INDEX image_builds_project ON image_builds (project_id, id);"}};
}

namespace {

constexpr const char* kCols =
    "id, org_id, project_id, group_id, name, spec_path, ref, commit_id, base_digest, inputs_hash, job_id, state, "
    "error, image_id, digest, inputs, created_by, created_ms, updated_ms";

Build from_row(const db::Row& r) {
  Build b;
  std::size_t i = 0;
  for (std::string* f : {&b.id, &b.org_id, &b.project_id, &b.group_id, &b.name, &b.spec_path, &b.ref, &b.commit,
                         &b.base_digest, &b.inputs_hash, &b.job_id, &b.state, &b.error, &b.image_id, &b.digest})
    *f = r.str(i++);
  b.inputs = json::parse(r.str(i++), nullptr, false);
  b.created_by = r.str(i++);
  b.created_ms = r.i64(i++);
  b.updated_ms = r.i64(i++);
  return b;
}

Result<std::optional<Build>> one(db::Tx& tx, const std::string& where, const db::Params& params) {
  auto r = TRY(tx.query_one(std::string("SELECT ") + kCols + " FROM image_builds WHERE " + where, params));
  if (!r) return std::optional<Build>();
  return std::optional<Build>(from_row(*r));
}

}  // namespace

Status insert_build(db::Tx& tx, const Build& b) {
  TRY(tx.exec(std::string("INSERT INTO image_builds (") + kCols +
                  ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
              {b.id, b.org_id, b.project_id, b.group_id, b.name, b.spec_path, b.ref, b.commit, b.base_digest,
               b.inputs_hash, b.job_id, b.state, b.error, b.image_id, b.digest, b.inputs.dump(), b.created_by,
               b.created_ms, b.updated_ms}));
  return {};
}

Result<std::optional<Build>> get_build(db::Tx& tx, const std::string& id) { return one(tx, "id = ?", {id}); }

Result<std::optional<Build>> build_of_job(db::Tx& tx, const std::string& job_id) {
  if (job_id.empty()) return std::optional<Build>();
  return one(tx, "job_id = ?", {job_id});
}

Result<std::vector<Build>> ready_builds(db::Tx& tx, const std::string& org_id, const std::string& inputs_hash) {
  auto rows = TRY(tx.query(std::string("SELECT ") + kCols +
                               " FROM image_builds WHERE org_id = ? AND inputs_hash = ? AND state = 'ready'"
                               " ORDER BY created_ms DESC LIMIT 20",
                           {org_id, inputs_hash}));
  std::vector<Build> out;
  for (const auto& r : rows) out.push_back(from_row(r));
  return out;
}

Status finish_build(db::Tx& tx, const std::string& id, const std::string& state, const std::string& error,
                    const std::string& image_id, const std::string& digest, Millis now) {
  TRY(tx.exec("UPDATE image_builds SET state = ?, error = ?, image_id = ?, digest = ?, updated_ms = ?"
              " WHERE id = ? AND state = 'running'",
              {state, error, image_id, digest, now, id}));
  return {};
}

}  // namespace atrium::images
