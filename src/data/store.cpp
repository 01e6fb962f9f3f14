#include "data/store.hpp"

#include "audit/audit.hpp"
#include "core/crypto.hpp"
#include "http/etag.hpp"
#include "quota/quota.hpp"

namespace atrium::data {

std::vector<db::Migration> migrations() {
  return {{1, "files, uploads, blobs",
           R"SQL(
CREATE TABLE blobs (
  id TEXT PRIMARY KEY, size INTEGER NOT NULL, touched_ms INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE files (
  project_id TEXT NOT NULL, path TEXT NOT NULL, org_id TEXT NOT NULL, group_id TEXT NOT NULL, owner_id TEXT NOT NULL,
  blob_id TEXT NOT NULL, size INTEGER NOT NULL, created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL,
  version INTEGER NOT NULL DEFAULT 1, PRIMARY KEY (project_id, path)) WITHOUT ROWID;
CREATE INDEX files_blob ON files (blob_id);
CREATE INDEX files_org_blob ON files (org_id, blob_id, size);
CREATE INDEX files_group_blob ON files (group_id, blob_id, size);
CREATE INDEX files_owner_blob ON files (owner_id, org_id, blob_id, size);
CREATE TABLE uploads (
  id TEXT PRIMARY KEY, project_id TEXT NOT NULL, org_id TEXT NOT NULL, group_id TEXT NOT NULL, user_id TEXT NOT NULL,
  path TEXT NOT NULL, size INTEGER NOT NULL, received INTEGER NOT NULL DEFAULT 0, staged_bytes INTEGER NOT NULL DEFAULT 0,
  wrapped_key TEXT NOT NULL, sha256 TEXT NOT NULL, overwrite INTEGER NOT NULL, created_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL);
CREATE INDEX uploads_project ON uploads (project_id, id);
CREATE INDEX uploads_org ON uploads (org_id);
CREATE INDEX uploads_expires ON uploads (expires_ms);
)SQL"},
          {2, "signed links",
           R"SQL(
CREATE TABLE links (
  id TEXT PRIMARY KEY, project_id TEXT NOT NULL, org_id TEXT NOT NULL, path TEXT NOT NULL, blob_id TEXT NOT NULL,
  size INTEGER NOT NULL, created_by TEXT NOT NULL, created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL,
  one_time INTEGER NOT NULL, uses INTEGER NOT NULL DEFAULT 0, revoked_ms INTEGER, version INTEGER NOT NULL DEFAULT 1);
CREATE INDEX links_project ON links (project_id, id);
CREATE INDEX links_blob ON links (blob_id);
)SQL"},
          {3, "datasets",
           R"SQL(
CREATE TABLE datasets (
  id TEXT PRIMARY KEY, project_id TEXT NOT NULL, org_id TEXT NOT NULL, group_id TEXT NOT NULL, name TEXT NOT NULL,
  description TEXT NOT NULL, created_by TEXT NOT NULL, created_ms INTEGER NOT NULL, latest INTEGER NOT NULL DEFAULT 0,
  version INTEGER NOT NULL DEFAULT 1, UNIQUE (project_id, name));
CREATE TABLE dataset_versions (
  dataset_id TEXT NOT NULL, number INTEGER NOT NULL, org_id TEXT NOT NULL, group_id TEXT NOT NULL,
  created_by TEXT NOT NULL, created_ms INTEGER NOT NULL, files INTEGER NOT NULL, bytes INTEGER NOT NULL,
  manifest_sha256 TEXT NOT NULL, message TEXT NOT NULL, provenance TEXT NOT NULL, PRIMARY KEY (dataset_id, number));
CREATE INDEX dataset_versions_org ON dataset_versions (org_id);
CREATE TABLE dataset_entries (
  dataset_id TEXT NOT NULL, number INTEGER NOT NULL, path TEXT NOT NULL, blob_id TEXT NOT NULL, size INTEGER NOT NULL,
  PRIMARY KEY (dataset_id, number, path)) WITHOUT ROWID;
CREATE INDEX dataset_entries_blob ON dataset_entries (blob_id);
)SQL"},
          {4, "signed links to dataset versions",
           R"SQL(
ALTER TABLE links ADD COLUMN dataset_id TEXT NOT NULL DEFAULT '';
ALTER TABLE links ADD COLUMN number INTEGER NOT NULL DEFAULT 0;
)SQL"}};
}

namespace {

constexpr const char* kFileCols =
    "project_id, path, org_id, group_id, owner_id, blob_id, size, created_ms, updated_ms, version";

FileRow file_from(const db::Row& r) {
  FileRow f;
  f.project_id = r.str(0);
  f.path = r.str(1);
  f.org_id = r.str(2);
  f.group_id = r.str(3);
  f.owner_id = r.str(4);
  f.blob_id = r.str(5);
  f.size = r.i64(6);
  f.created = r.i64(7);
  f.updated = r.i64(8);
  f.version = r.i64(9);
  return f;
}

constexpr const char* kUploadCols =
    "id, project_id, org_id, group_id, user_id, path, size, received, staged_bytes, wrapped_key, sha256, overwrite, "
    "created_ms, updated_ms, expires_ms";

UploadRow upload_from(const db::Row& r) {
  UploadRow u;
  u.id = r.str(0);
  u.project_id = r.str(1);
  u.org_id = r.str(2);
  u.group_id = r.str(3);
  u.user_id = r.str(4);
  u.path = r.str(5);
  u.size = r.i64(6);
  u.offset = r.i64(7);
  u.staged_bytes = r.i64(8);
  u.wrapped_key = r.str(9);
  u.sha256 = r.str(10);
  u.overwrite = r.i64(11) != 0;
  u.created = r.i64(12);
  u.updated = r.i64(13);
  u.expires = r.i64(14);
  return u;
}

// A blob gains or loses a reference: it stays out of garbage collection for the grace period.
Status touch_blob(db::Tx& tx, const std::string& id, std::int64_t size, Millis now) {
  TRY(tx.exec("INSERT INTO blobs (id, size, touched_ms) VALUES (?, ?, ?) "
              "ON CONFLICT (id) DO UPDATE SET touched_ms = excluded.touched_ms",
              {id, size, now}));
  return {};
}

}  // namespace

std::unexpected<Error> file_exists_error(const std::string& path) {
  return fail(Error(ErrorCode::kAlreadyExists, "file-exists",
                    "a file named '" + path + "' exists (send overwrite: true to replace it)")
                  .with("path", path));
}

nlohmann::json FileRow::json() const {
  return {{"project_id", project_id}, {"path", path},        {"size", size},
          {"sha256", blob_id},        {"owner_id", owner_id}, {"created", format_rfc3339(created)},
          {"updated", format_rfc3339(updated)}, {"version", version}, {"etag", etag()}};
}

nlohmann::json UploadRow::json() const {
  return {{"id", id},
          {"project_id", project_id},
          {"user_id", user_id},
          {"path", path},
          {"size", size},
          {"offset", offset},
          {"sha256", sha256.empty() ? nlohmann::json(nullptr) : nlohmann::json(sha256)},
          {"overwrite", overwrite},
          {"created", format_rfc3339(created)},
          {"updated", format_rfc3339(updated)},
          {"expires", format_rfc3339(expires)}};
}

Result<std::optional<FileRow>> get_file(db::Tx& tx, const std::string& project_id, const std::string& path) {
  auto row = TRY(tx.query_one(std::string("SELECT ") + kFileCols + " FROM files WHERE project_id = ? AND path = ?",
                              {project_id, path}));
  if (!row) return std::optional<FileRow>();
  return std::optional<FileRow>(file_from(*row));
}

Result<std::vector<FileRow>> list_files(db::Tx& tx, const std::string& project_id, const std::string& prefix,
                                        const std::string& after, int limit) {
  // Paths under "dir" are "dir/..." : the range ["dir/", "dir0") ('0' follows '/').
  std::string lo = prefix.empty() ? std::string() : prefix + "/";
  std::string hi = prefix.empty() ? std::string("\xff") : prefix + "0";
  if (after > lo) lo = after;
  auto rows = TRY(tx.query(std::string("SELECT ") + kFileCols +
                               " FROM files WHERE project_id = ? AND path > ? AND path < ? ORDER BY path LIMIT ?",
                           {project_id, lo, hi, std::int64_t{limit}}));
  std::vector<FileRow> out;
  out.reserve(rows.size());
  for (auto& r : rows) out.push_back(file_from(r));
  return out;
}

Result<FileRow> put_file(db::Tx& tx, const Actor& actor, FileRow f, bool overwrite, Millis now) {
  auto old = TRY(get_file(tx, f.project_id, f.path));
  if (old && !overwrite) return file_exists_error(f.path);
  TRY_STATUS(touch_blob(tx, f.blob_id, f.size, now));
  f.updated = now;
  if (old) {
    TRY_STATUS(touch_blob(tx, old->blob_id, old->size, now));
    f.created = old->created;
    f.version = old->version + 1;
    TRY(tx.exec("UPDATE files SET owner_id = ?, blob_id = ?, size = ?, updated_ms = ?, version = ? "
                "WHERE project_id = ? AND path = ?",
                {f.owner_id, f.blob_id, f.size, now, f.version, f.project_id, f.path}));
  } else {
    f.created = now;
    f.version = 1;
    TRY(tx.exec(std::string("INSERT INTO files (") + kFileCols + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                {f.project_id, f.path, f.org_id, f.group_id, f.owner_id, f.blob_id, f.size, now, now, f.version}));
  }
  nlohmann::json summary = {{"project_id", f.project_id}, {"path", f.path}, {"size", f.size}, {"sha256", f.blob_id}};
  if (old) summary["replaced_sha256"] = old->blob_id;
  TRY_STATUS(audit::record(tx, actor, {f.org_id, old ? "file.replace" : "file.create", "file",
                                       f.project_id + ":" + f.path, summary},
                           now));
  return f;
}

Status delete_file(db::Tx& tx, const Actor& actor, const FileRow& f, Millis now) {
  auto n = TRY(tx.exec("DELETE FROM files WHERE project_id = ? AND path = ? AND version = ?",
                       {f.project_id, f.path, f.version}));
  if (n == 0) return fail(ErrorCode::kAborted, "conflict", "the file changed meanwhile; try again");
  TRY_STATUS(touch_blob(tx, f.blob_id, f.size, now));
  return audit::record(tx, actor,
                       {f.org_id, "file.delete", "file", f.project_id + ":" + f.path,
                        {{"project_id", f.project_id}, {"path", f.path}, {"size", f.size}, {"sha256", f.blob_id}}},
                       now);
}

Result<FileRow> move_file(db::Tx& tx, const Actor& actor, const FileRow& f, const std::string& to, bool overwrite,
                          Millis now) {
  if (to == f.path) return f;
  auto target = TRY(get_file(tx, f.project_id, to));
  if (target && !overwrite) return file_exists_error(to);
  if (target) {
    TRY(tx.exec("DELETE FROM files WHERE project_id = ? AND path = ?", {f.project_id, to}));
    TRY_STATUS(touch_blob(tx, target->blob_id, target->size, now));
  }
  auto n = TRY(tx.exec("UPDATE files SET path = ?, updated_ms = ?, version = version + 1 "
                       "WHERE project_id = ? AND path = ? AND version = ?",
                       {to, now, f.project_id, f.path, f.version}));
  if (n == 0) return fail(ErrorCode::kAborted, "conflict", "the file changed meanwhile; try again");
  nlohmann::json summary = {{"project_id", f.project_id}, {"from", f.path}, {"to", to}, {"sha256", f.blob_id}};
  if (target) summary["replaced_sha256"] = target->blob_id;
  TRY_STATUS(audit::record(tx, actor, {f.org_id, "file.move", "file", f.project_id + ":" + to, summary}, now));
  return TRY(get_file(tx, f.project_id, to)).value();
}

Status insert_upload(db::Tx& tx, const Actor& actor, const UploadRow& u, Millis now) {
  TRY(tx.exec(std::string("INSERT INTO uploads (") + kUploadCols +
                  ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
              {u.id, u.project_id, u.org_id, u.group_id, u.user_id, u.path, u.size, u.offset, u.staged_bytes,
               u.wrapped_key, u.sha256, std::int64_t{u.overwrite ? 1 : 0}, now, now, u.expires}));
  return audit::record(tx, actor,
                       {u.org_id, "upload.create", "upload", u.id,
                        {{"project_id", u.project_id}, {"path", u.path}, {"size", u.size}}},
                       now);
}

Result<std::optional<UploadRow>> get_upload(db::Tx& tx, const std::string& id) {
  auto row = TRY(tx.query_one(std::string("SELECT ") + kUploadCols + " FROM uploads WHERE id = ?", {id}));
  if (!row) return std::optional<UploadRow>();
  return std::optional<UploadRow>(upload_from(*row));
}

Result<std::vector<UploadRow>> list_uploads(db::Tx& tx, const std::string& project_id, const std::string& user_id,
                                            const std::string& after, int limit) {
  auto rows = TRY(tx.query(std::string("SELECT ") + kUploadCols +
                               " FROM uploads WHERE project_id = ? AND (? = '' OR user_id = ?) AND id > ? "
                               "ORDER BY id LIMIT ?",
                           {project_id, user_id, user_id, after, std::int64_t{limit}}));
  std::vector<UploadRow> out;
  for (auto& r : rows) out.push_back(upload_from(r));
  return out;
}

Status advance_upload(db::Tx& tx, const std::string& id, std::int64_t from_offset, std::int64_t offset,
                      std::int64_t staged_bytes, Millis now, Millis expires) {
  auto n = TRY(tx.exec("UPDATE uploads SET received = ?, staged_bytes = ?, updated_ms = ?, expires_ms = ? "
                       "WHERE id = ? AND received = ?",
                       {offset, staged_bytes, now, expires, id, from_offset}));
  if (n == 0)
    return fail(ErrorCode::kAborted, "offset-mismatch", "the upload moved on meanwhile; ask for its offset");
  return {};
}

Status delete_upload(db::Tx& tx, const std::string& id) {
  TRY(tx.exec("DELETE FROM uploads WHERE id = ?", {id}));
  return {};
}

Result<std::int64_t> uploads_claimed_bytes(db::Tx& tx) {
  auto row = TRY(tx.query_one("SELECT COALESCE(SUM(2 * size - received), 0) FROM uploads"));
  return row ? row->i64(0) : 0;
}

Result<std::vector<std::string>> expired_uploads(db::Tx& tx, Millis now) {
  std::vector<std::string> out;
  for (auto& r : TRY(tx.query("SELECT id FROM uploads WHERE expires_ms <= ? ORDER BY id", {now})))
    out.push_back(r.str(0));
  return out;
}

Result<std::int64_t> storage_used(db::Tx& tx, const std::string& org_id, const std::string& kind,
                                  const std::string& subject_id) {
  // Files, and the dataset versions that keep blobs the files may no longer hold, each blob once.
  std::string files_where, versions_where, uploads_where;
  db::Params p;
  if (kind == "org") {
    files_where = "org_id = ?";
    versions_where = "v.org_id = ?";
    uploads_where = "org_id = ?";
    p = {org_id, org_id, org_id};
  } else if (kind == "group") {
    files_where = "group_id = ?";
    versions_where = "v.group_id = ?";
    uploads_where = "group_id = ?";
    p = {subject_id, subject_id, subject_id};
  } else {
    files_where = "owner_id = ? AND org_id = ?";
    versions_where = "v.created_by = ? AND v.org_id = ?";
    uploads_where = "user_id = ? AND org_id = ?";
    p = {subject_id, org_id, subject_id, org_id, subject_id, org_id};
  }
  auto row = TRY(tx.query_one(
      "SELECT (SELECT COALESCE(SUM(size), 0) FROM (SELECT blob_id, size FROM files WHERE " + files_where +
          " UNION SELECT e.blob_id, e.size FROM dataset_entries e JOIN dataset_versions v ON v.dataset_id = "
          "e.dataset_id AND v.number = e.number WHERE " +
          versions_where + ")) + (SELECT COALESCE(SUM(size), 0) FROM uploads WHERE " + uploads_where + ")",
      p));
  return row ? row->i64(0) : 0;
}

Result<std::map<std::string, std::int64_t>> storage_by_project(db::Tx& tx, const std::string& org_id) {
  std::map<std::string, std::int64_t> out;
  auto rows = TRY(tx.query(
      "SELECT project_id, SUM(size) FROM (SELECT project_id, blob_id, size FROM files WHERE org_id = ? "
      "UNION SELECT d.project_id, e.blob_id, e.size FROM dataset_entries e JOIN dataset_versions v ON v.dataset_id = "
      "e.dataset_id AND v.number = e.number JOIN datasets d ON d.id = v.dataset_id WHERE v.org_id = ?) AS held "
      "GROUP BY project_id "
      "UNION ALL SELECT project_id, SUM(size) FROM uploads WHERE org_id = ? GROUP BY project_id",
      {org_id, org_id, org_id}));
  for (auto& r : rows) out[r.str(0)] += r.i64(1);
  return out;
}

Status check_storage_quota(db::Tx& tx, const quota::Registry* quotas, const std::string& org_id,
                           const std::string& group_id, const std::string& user_id, std::int64_t bytes) {
  if (quotas) return quota::check_storage(tx, *quotas, org_id, group_id, user_id, bytes);
  quota::Registry own;
  TRY_STATUS(own.add("data", {"storage_bytes"}, [](db::Tx& t, const quota::Subject& s) -> Result<nlohmann::json> {
    return nlohmann::json{{"storage_bytes", TRY(storage_used(t, s.org_id, s.kind, s.id))}};
  }));
  return quota::check_storage(tx, own, org_id, group_id, user_id, bytes);
}

namespace {
// Nothing refers to blob b: no file, no dataset version, no live signed link.
constexpr const char* kUnreferenced =
    "NOT EXISTS (SELECT 1 FROM files f WHERE f.blob_id = b.id) AND NOT EXISTS "
    "(SELECT 1 FROM dataset_entries e WHERE e.blob_id = b.id) AND NOT EXISTS "
    "(SELECT 1 FROM links l WHERE l.blob_id = b.id AND l.revoked_ms IS NULL AND l.expires_ms > ? "
    "AND (l.one_time = 0 OR l.uses = 0))";
}  // namespace

Result<std::vector<std::string>> unreferenced_blobs(db::Tx& tx, Millis before, int limit) {
  std::vector<std::string> out;
  for (auto& r : TRY(tx.query(std::string("SELECT b.id FROM blobs b WHERE b.touched_ms < ? AND ") + kUnreferenced +
                                  " ORDER BY b.id LIMIT ?",
                              {before, before, std::int64_t{limit}})))
    out.push_back(r.str(0));
  return out;
}

Result<bool> forget_unreferenced_blob(db::Tx& tx, const std::string& id, Millis before) {
  auto n = TRY(tx.exec(std::string("DELETE FROM blobs AS b WHERE b.id = ? AND b.touched_ms < ? AND ") + kUnreferenced,
                       {id, before, before}));
  return n > 0;
}

nlohmann::json LinkRow::json() const {
  return {{"id", id},
          {"project_id", project_id},
          {"path", path},
          {"size", size},
          {"sha256", blob_id},
          {"created_by", created_by},
          {"created", format_rfc3339(created)},
          {"expires", format_rfc3339(expires)},
          {"one_time", one_time},
          {"uses", uses},
          {"revoked", revoked != 0},
          {"dataset_id", dataset_id.empty() ? nlohmann::json(nullptr) : nlohmann::json(dataset_id)},
          {"dataset_version", dataset_id.empty() ? nlohmann::json(nullptr) : nlohmann::json(number)},
          {"etag", http::etag_of(version)}};
}

namespace {
constexpr const char* kLinkCols =
    "id, project_id, org_id, path, blob_id, size, created_by, created_ms, expires_ms, one_time, uses, "
    "COALESCE(revoked_ms, 0), version, dataset_id, number";
LinkRow link_from(const db::Row& r) {
  LinkRow l;
  l.id = r.str(0);
  l.project_id = r.str(1);
  l.org_id = r.str(2);
  l.path = r.str(3);
  l.blob_id = r.str(4);
  l.size = r.i64(5);
  l.created_by = r.str(6);
  l.created = r.i64(7);
  l.expires = r.i64(8);
  l.one_time = r.i64(9) != 0;
  l.uses = r.i64(10);
  l.revoked = r.i64(11);
  l.version = r.i64(12);
  l.dataset_id = r.str(13);
  l.number = r.i64(14);
  return l;
}
}  // namespace

namespace {

// What a link grants, for its audit events: a file (path, content) or a dataset version.
nlohmann::json link_summary(const LinkRow& l) {
  nlohmann::json j = {{"project_id", l.project_id}};
  if (l.dataset_id.empty()) {
    j["path"] = l.path;
    j["sha256"] = l.blob_id;
  } else {
    j["dataset_id"] = l.dataset_id;
    j["version"] = l.number;
  }
  return j;
}

}  // namespace

Status insert_link(db::Tx& tx, const Actor& actor, const LinkRow& l, Millis now) {
  TRY(tx.exec("INSERT INTO links (id, project_id, org_id, path, blob_id, size, created_by, created_ms, expires_ms, "
              "one_time, dataset_id, number) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
              {l.id, l.project_id, l.org_id, l.path, l.blob_id, l.size, l.created_by, now, l.expires,
               std::int64_t{l.one_time ? 1 : 0}, l.dataset_id, l.number}));
  nlohmann::json summary = link_summary(l);
  summary["expires"] = format_rfc3339(l.expires);
  summary["one_time"] = l.one_time;
  return audit::record(tx, actor, {l.org_id, "link.create", "link", l.id, summary}, now);
}

Result<std::optional<LinkRow>> get_link(db::Tx& tx, const std::string& id) {
  auto row = TRY(tx.query_one(std::string("SELECT ") + kLinkCols + " FROM links WHERE id = ?", {id}));
  if (!row) return std::optional<LinkRow>();
  return std::optional<LinkRow>(link_from(*row));
}

Result<std::vector<LinkRow>> list_links(db::Tx& tx, const std::string& project_id, const std::string& after,
                                        int limit) {
  std::vector<LinkRow> out;
  for (auto& r : TRY(tx.query(std::string("SELECT ") + kLinkCols +
                                  " FROM links WHERE project_id = ? AND id > ? ORDER BY id LIMIT ?",
                              {project_id, after, std::int64_t{limit}})))
    out.push_back(link_from(r));
  return out;
}

Status revoke_link(db::Tx& tx, const Actor& actor, const LinkRow& l, Millis now) {
  auto n = TRY(tx.exec("UPDATE links SET revoked_ms = ?, version = version + 1 WHERE id = ? AND revoked_ms IS NULL",
                       {now, l.id}));
  if (n == 0) return fail(ErrorCode::kFailedPrecondition, "link-revoked", "the link is already revoked");
  if (!l.blob_id.empty()) TRY_STATUS(touch_blob(tx, l.blob_id, l.size, now));
  return audit::record(tx, actor, {l.org_id, "link.revoke", "link", l.id, {{"path", l.path}}}, now);
}

Status use_link(db::Tx& tx, const Actor& actor, const LinkRow& l, const std::string& what, Millis now) {
  // A one-time link is used once, also under concurrent requests.
  auto n = TRY(tx.exec("UPDATE links SET uses = uses + 1 WHERE id = ? AND revoked_ms IS NULL AND expires_ms > ? "
                       "AND (one_time = 0 OR uses = 0)",
                       {l.id, now}));
  if (n == 0) return fail(ErrorCode::kNotFound, "link-invalid", "this link is expired, revoked or used");
  nlohmann::json summary = link_summary(l);
  if (!what.empty()) summary["request"] = what;
  return audit::record(tx, actor, {l.org_id, "link.use", "link", l.id, summary}, now);
}

// ---- datasets

nlohmann::json DatasetRow::json() const {
  return {{"id", id},          {"project_id", project_id},
          {"name", name},      {"description", description},
          {"created_by", created_by}, {"created", format_rfc3339(created)},
          {"latest", latest == 0 ? nlohmann::json(nullptr) : nlohmann::json(latest)},
          {"etag", http::etag_of(version)}};
}

namespace {
constexpr const char* kDatasetCols = "id, project_id, org_id, group_id, name, description, created_by, created_ms, latest, version";
DatasetRow dataset_from(const db::Row& r) {
  DatasetRow d;
  d.id = r.str(0);
  d.project_id = r.str(1);
  d.org_id = r.str(2);
  d.group_id = r.str(3);
  d.name = r.str(4);
  d.description = r.str(5);
  d.created_by = r.str(6);
  d.created = r.i64(7);
  d.latest = r.i64(8);
  d.version = r.i64(9);
  return d;
}
constexpr const char* kVersionCols =
    "number, created_by, created_ms, files, bytes, manifest_sha256, message, provenance";
nlohmann::json version_from(const std::string& dataset_id, const db::Row& r) {
  auto prov = nlohmann::json::parse(r.str(7), nullptr, false);
  return {{"dataset_id", dataset_id},          {"version", r.i64(0)}, {"created_by", r.str(1)},
          {"created", format_rfc3339(r.i64(2))}, {"files", r.i64(3)},   {"bytes", r.i64(4)},
          {"manifest_sha256", r.str(5)},         {"message", r.str(6)},
          {"provenance", prov.is_discarded() ? nlohmann::json::object() : prov}};
}
}  // namespace

Result<DatasetRow> create_dataset(db::Tx& tx, const Actor& actor, DatasetRow d, Millis now) {
  if (TRY(tx.query_one("SELECT 1 FROM datasets WHERE project_id = ? AND name = ?", {d.project_id, d.name})))
    return fail(Error(ErrorCode::kAlreadyExists, "dataset-exists", "the project has a dataset named '" + d.name + "'")
                    .with("field", "name"));
  d.created = now;
  TRY(tx.exec("INSERT INTO datasets (id, project_id, org_id, group_id, name, description, created_by, created_ms) "
              "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
              {d.id, d.project_id, d.org_id, d.group_id, d.name, d.description, d.created_by, now}));
  TRY_STATUS(audit::record(tx, actor,
                           {d.org_id, "dataset.create", "dataset", d.id, {{"project_id", d.project_id}, {"name", d.name}}},
                           now));
  return d;
}

Result<std::optional<DatasetRow>> get_dataset(db::Tx& tx, const std::string& id) {
  auto row = TRY(tx.query_one(std::string("SELECT ") + kDatasetCols + " FROM datasets WHERE id = ?", {id}));
  if (!row) return std::optional<DatasetRow>();
  return std::optional<DatasetRow>(dataset_from(*row));
}

Result<std::optional<DatasetRow>> get_dataset_by_name(db::Tx& tx, const std::string& project_id,
                                                     const std::string& name) {
  auto row = TRY(tx.query_one(std::string("SELECT ") + kDatasetCols + " FROM datasets WHERE project_id = ? AND name = ?",
                              {project_id, name}));
  if (!row) return std::optional<DatasetRow>();
  return std::optional<DatasetRow>(dataset_from(*row));
}

Result<std::vector<DatasetRow>> list_datasets(db::Tx& tx, const std::string& project_id, const std::string& after,
                                              int limit) {
  std::vector<DatasetRow> out;
  for (auto& r : TRY(tx.query(std::string("SELECT ") + kDatasetCols +
                                  " FROM datasets WHERE project_id = ? AND name > ? ORDER BY name LIMIT ?",
                              {project_id, after, std::int64_t{limit}})))
    out.push_back(dataset_from(r));
  return out;
}

Result<nlohmann::json> add_version(db::Tx& tx, const Actor& actor, const DatasetRow& d,
                                   const std::vector<ManifestEntry>& entries, const std::string& message,
                                   const nlohmann::json& provenance, Millis now) {
  // Numbered in order; the dataset row's version guards against a concurrent new version.
  std::int64_t number = d.latest + 1;
  auto n = TRY(tx.exec("UPDATE datasets SET latest = ?, version = version + 1 WHERE id = ? AND latest = ?",
                       {number, d.id, d.latest}));
  if (n == 0) return fail(ErrorCode::kAborted, "conflict", "another version was made meanwhile; try again");
  std::string manifest;
  std::int64_t bytes = 0;
  for (auto& e : entries) {
    TRY(tx.exec("INSERT INTO dataset_entries (dataset_id, number, path, blob_id, size) VALUES (?, ?, ?, ?, ?)",
                {d.id, number, e.path, e.blob_id, e.size}));
    TRY_STATUS(touch_blob(tx, e.blob_id, e.size, now));
    manifest += e.path + "\t" + e.blob_id + "\t" + std::to_string(e.size) + "\n";
    bytes += e.size;
  }
  std::string manifest_sha = crypto::sha256_hex(manifest);
  TRY(tx.exec("INSERT INTO dataset_versions (dataset_id, number, org_id, group_id, created_by, created_ms, files, bytes, "
              "manifest_sha256, message, provenance) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
              {d.id, number, d.org_id, d.group_id, actor.user_id, now, static_cast<std::int64_t>(entries.size()), bytes,
               manifest_sha, message, provenance.dump()}));
  TRY_STATUS(audit::record(tx, actor,
                           {d.org_id, "dataset.version", "dataset", d.id,
                            {{"version", number}, {"files", entries.size()}, {"bytes", bytes},
                             {"manifest_sha256", manifest_sha}}},
                           now));
  return TRY(get_version(tx, d.id, number)).value();
}

Result<std::optional<nlohmann::json>> get_version(db::Tx& tx, const std::string& dataset_id, std::int64_t number) {
  auto row = TRY(tx.query_one(std::string("SELECT ") + kVersionCols +
                                  " FROM dataset_versions WHERE dataset_id = ? AND number = ?",
                              {dataset_id, number}));
  if (!row) return std::optional<nlohmann::json>();
  return std::optional<nlohmann::json>(version_from(dataset_id, *row));
}

Result<std::vector<nlohmann::json>> list_versions(db::Tx& tx, const std::string& dataset_id) {
  std::vector<nlohmann::json> out;
  for (auto& r : TRY(tx.query(std::string("SELECT ") + kVersionCols +
                                  " FROM dataset_versions WHERE dataset_id = ? ORDER BY number DESC LIMIT 1000",
                              {dataset_id})))
    out.push_back(version_from(dataset_id, r));
  return out;
}

Result<std::vector<ManifestEntry>> version_entries(db::Tx& tx, const std::string& dataset_id, std::int64_t number,
                                                   const std::string& after, int limit) {
  std::vector<ManifestEntry> out;
  for (auto& r : TRY(tx.query("SELECT path, blob_id, size FROM dataset_entries WHERE dataset_id = ? AND number = ? "
                              "AND path > ? ORDER BY path LIMIT ?",
                              {dataset_id, number, after, std::int64_t{limit}})))
    out.push_back({r.str(0), r.str(1), r.i64(2)});
  return out;
}

Result<std::optional<ManifestEntry>> version_entry(db::Tx& tx, const std::string& dataset_id, std::int64_t number,
                                                   const std::string& path) {
  auto r = TRY(tx.query_one("SELECT path, blob_id, size FROM dataset_entries WHERE dataset_id = ? AND number = ? "
                            "AND path = ?",
                            {dataset_id, number, path}));
  if (!r) return std::optional<ManifestEntry>();
  return std::optional<ManifestEntry>(ManifestEntry{r->str(0), r->str(1), r->i64(2)});
}

Status touch_blobs(db::Tx& tx, const std::vector<ManifestEntry>& entries, Millis now) {
  for (auto& e : entries) TRY_STATUS(touch_blob(tx, e.blob_id, e.size, now));
  return {};
}

Result<bool> blob_known(db::Tx& tx, const std::string& id) {
  return TRY(tx.query_one("SELECT 1 FROM blobs WHERE id = ?", {id})).has_value();
}

Result<std::int64_t> blob_size(db::Tx& tx, const std::string& id) {
  auto r = TRY(tx.query_one("SELECT size FROM blobs WHERE id = ?", {id}));
  return r ? r->i64(0) : 0;
}

}  // namespace atrium::data
