#include "images/store.hpp"

#include "http/etag.hpp"

namespace atrium::images {

std::vector<db::Migration> migrations() {
  return {{1, "images",
           R"SQL(
CREATE TABLE images (
  id TEXT PRIMARY KEY, org_id TEXT NOT NULL, project_id TEXT NOT NULL DEFAULT '', group_id TEXT NOT NULL DEFAULT '',
  name TEXT NOT NULL, digest TEXT NOT NULL DEFAULT '', source TEXT NOT NULL, state TEXT NOT NULL,
  error TEXT NOT NULL DEFAULT '', size INTEGER NOT NULL DEFAULT 0, software TEXT NOT NULL DEFAULT '{}',
  created_by TEXT NOT NULL, created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL,
  version INTEGER NOT NULL DEFAULT 1, UNIQUE (org_id, project_id, name));
CREATE INDEX images_digest ON images (digest);
CREATE INDEX images_project ON images (project_id, id);
CREATE TABLE image_roots (
  digest TEXT PRIMARY KEY, size INTEGER NOT NULL, state TEXT NOT NULL, software TEXT NOT NULL DEFAULT '{}',
  attempt TEXT NOT NULL, created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL);
CREATE TABLE image_registries (
  id TEXT PRIMARY KEY, org_id TEXT NOT NULL, host TEXT NOT NULL, username TEXT NOT NULL,
  password_sealed TEXT NOT NULL, created_by TEXT NOT NULL, created_ms INTEGER NOT NULL,
  version INTEGER NOT NULL DEFAULT 1, UNIQUE (org_id, host));
CREATE TABLE image_defaults (
  project_id TEXT PRIMARY KEY, org_id TEXT NOT NULL, image_id TEXT NOT NULL, updated_ms INTEGER NOT NULL,
  version INTEGER NOT NULL DEFAULT 1);
)SQL"}};
}

namespace store {
namespace {

constexpr const char* kCols =
    "id, org_id, project_id, group_id, name, digest, source, state, error, size, software, created_by, created_ms, "
    "updated_ms, version";

Image image_of(const db::Row& r) {
  Image im;
  im.id = r.str(0), im.org_id = r.str(1), im.project_id = r.str(2), im.group_id = r.str(3), im.name = r.str(4);
  im.digest = r.str(5), im.source = r.str(6), im.state = r.str(7), im.error = r.str(8);
  im.size_bytes = r.i64(9);
  im.software = nlohmann::json::parse(r.str(10), nullptr, false);
  if (im.software.is_discarded()) im.software = nlohmann::json::object();
  im.created_by = r.str(11), im.created_ms = r.i64(12), im.updated_ms = r.i64(13), im.version = r.i64(14);
  return im;
}

Result<std::vector<Image>> images_where(db::Tx& tx, const std::string& where, const db::Params& p) {
  std::vector<Image> out;
  for (auto& r : TRY(tx.query(std::string("SELECT ") + kCols + " FROM images WHERE " + where, p)))
    out.push_back(image_of(r));
  return out;
}

Result<std::optional<Image>> one(Result<std::vector<Image>> v) {
  if (!v) return std::unexpected(v.error());
  if (v->empty()) return std::optional<Image>{};
  return std::optional<Image>{std::move(v->front())};
}

Credential credential_of(const db::Row& r) {
  return {r.str(0), r.str(1), r.str(2), r.str(3), r.str(4), r.str(5), r.i64(6), r.i64(7)};
}
constexpr const char* kCredCols = "id, org_id, host, username, password_sealed, created_by, created_ms, version";

Root root_of(const db::Row& r) {
  Root x{r.str(0), r.str(1), r.i64(2), nlohmann::json::parse(r.str(3), nullptr, false), r.str(4)};
  if (x.software.is_discarded()) x.software = nlohmann::json::object();
  return x;
}
constexpr const char* kRootCols = "digest, state, size, software, attempt";

}  // namespace

Status insert_image(db::Tx& tx, const Image& im) {
  auto r = tx.exec(std::string("INSERT INTO images (") + kCols + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   {im.id, im.org_id, im.project_id, im.group_id, im.name, im.digest, im.source, im.state, im.error,
                    im.size_bytes, im.software.dump(), im.created_by, im.created_ms, im.updated_ms, im.version});
  if (!r && r.error().code == ErrorCode::kAlreadyExists)
    return fail(Error(ErrorCode::kAlreadyExists, "name-taken", "an image named '" + im.name + "' exists already")
                    .with("field", "name"));
  if (!r) return std::unexpected(r.error());
  return {};
}

Result<std::optional<Image>> get_image(db::Tx& tx, const std::string& id) {
  return one(images_where(tx, "id = ?", {id}));
}

Result<std::optional<Image>> find_by_name(db::Tx& tx, const std::string& org_id, const std::string& project_id,
                                          const std::string& name) {
  return one(images_where(tx, "org_id = ? AND project_id = ? AND name = ?", {org_id, project_id, name}));
}

Result<std::optional<Image>> find_ready_digest(db::Tx& tx, const std::string& org_id, const std::string& project_id,
                                               const std::string& digest) {
  return one(images_where(tx,
                          "org_id = ? AND (project_id = ? OR project_id = '') AND digest = ? AND state = 'ready' "
                          "ORDER BY project_id DESC, id LIMIT 1",
                          {org_id, project_id, digest}));
}

Result<std::vector<Image>> list_images(db::Tx& tx, const std::string& org_id, const std::string& project_id,
                                       bool with_org_wide, const std::string& after, int limit) {
  return images_where(tx,
                      std::string("org_id = ? AND ") + (with_org_wide ? "(project_id = ? OR project_id = '')" : "project_id = ?") +
                          " AND id > ? ORDER BY id LIMIT ?",
                      {org_id, project_id, after, std::int64_t{limit}});
}

Result<bool> delete_image(db::Tx& tx, const std::string& id, std::int64_t version) {
  return TRY(tx.exec("DELETE FROM images WHERE id = ? AND version = ?", {id, version})) == 1;
}

Result<std::vector<Image>> set_digest_ready(db::Tx& tx, const std::string& digest, std::int64_t size,
                                            const nlohmann::json& software, Millis now) {
  auto pending = TRY(images_where(tx, "digest = ? AND state = 'pending' ORDER BY id", {digest}));
  TRY(tx.exec("UPDATE images SET state = 'ready', size = ?, software = ?, error = '', updated_ms = ?, "
              "version = version + 1 WHERE digest = ? AND state = 'pending'",
              {size, software.dump(), now, digest}));
  for (auto& im : pending) {
    im.state = "ready", im.size_bytes = size, im.software = software, im.updated_ms = now;
    ++im.version;
  }
  return pending;
}

Status set_digest_failed(db::Tx& tx, const std::string& digest, const std::string& error, Millis now) {
  TRY(tx.exec("UPDATE images SET state = 'failed', error = ?, updated_ms = ?, version = version + 1 "
              "WHERE digest = ? AND state = 'pending'",
              {error, now, digest}));
  return {};
}

Status set_image_failed(db::Tx& tx, const std::string& id, const std::string& error, Millis now) {
  TRY(tx.exec("UPDATE images SET state = 'failed', error = ?, updated_ms = ?, version = version + 1 WHERE id = ?",
              {error, now, id}));
  return {};
}

Status set_image_digest(db::Tx& tx, const std::string& id, const std::string& digest, Millis now) {
  TRY(tx.exec("UPDATE images SET digest = ?, updated_ms = ?, version = version + 1 WHERE id = ? AND state = 'pending'",
              {digest, now, id}));
  return {};
}

Result<bool> digest_named(db::Tx& tx, const std::string& digest) {
  return TRY(tx.query_one("SELECT 1 FROM images WHERE digest = ? AND state IN ('pending', 'ready') LIMIT 1",
                          {digest})).has_value();
}

Result<bool> subjects_hold(db::Tx& tx, const std::string& org_id, const std::string& group_id,
                           const std::string& user_id, const std::string& digest) {
  const char* live = "digest = ? AND state IN ('pending', 'ready') AND org_id = ?";
  if (!TRY(tx.query_one(std::string("SELECT 1 FROM images WHERE ") + live + " AND created_by = ? LIMIT 1",
                        {digest, org_id, user_id})))
    return false;
  if (group_id.empty()) return true;
  return TRY(tx.query_one(std::string("SELECT 1 FROM images WHERE ") + live + " AND group_id = ? LIMIT 1",
                          {digest, org_id, group_id}))
      .has_value();
}

Result<std::int64_t> storage_used(db::Tx& tx, const std::string& org_id, const std::string& kind,
                                  const std::string& subject_id) {
  std::string where = kind == "org" ? "i.org_id = ?" : kind == "group" ? "i.group_id = ? AND i.org_id = ?"
                                                                       : "i.created_by = ? AND i.org_id = ?";
  db::Params p = kind == "org" ? db::Params{subject_id} : db::Params{subject_id, org_id};
  auto row = TRY(tx.query_one(
      "SELECT COALESCE(SUM(size), 0) FROM (SELECT DISTINCT r.digest, r.size FROM images i JOIN image_roots r ON "
      "r.digest = i.digest WHERE i.state IN ('pending', 'ready') AND " +
          where + ")",
      p));
  return row ? row->i64(0) : 0;
}

Result<std::optional<Root>> get_root(db::Tx& tx, const std::string& digest) {
  auto r = TRY(tx.query_one(std::string("SELECT ") + kRootCols + " FROM image_roots WHERE digest = ?", {digest}));
  if (!r) return std::optional<Root>{};
  return std::optional<Root>{root_of(*r)};
}

Result<Root> claim_root(db::Tx& tx, const std::string& digest, std::int64_t estimate, const std::string& attempt,
                        Millis now) {
  TRY(tx.exec("INSERT INTO image_roots (digest, size, state, attempt, created_ms, updated_ms) "
              "VALUES (?, ?, 'pulling', ?, ?, ?) ON CONFLICT (digest) DO NOTHING",
              {digest, estimate, attempt, now, now}));
  auto root = TRY(get_root(tx, digest));
  if (!root) return internal("the image root " + digest + " vanished");
  return std::move(*root);
}

Status root_ready(db::Tx& tx, const std::string& digest, std::int64_t size, const nlohmann::json& software, Millis now) {
  TRY(tx.exec("INSERT INTO image_roots (digest, size, state, software, attempt, created_ms, updated_ms) "
              "VALUES (?, ?, 'ready', ?, '', ?, ?) ON CONFLICT (digest) DO UPDATE SET size = excluded.size, "
              "state = 'ready', software = excluded.software, updated_ms = excluded.updated_ms",
              {digest, size, software.dump(), now, now}));
  return {};
}

Status delete_root(db::Tx& tx, const std::string& digest) {
  TRY(tx.exec("DELETE FROM image_roots WHERE digest = ?", {digest}));
  return {};
}

Result<std::vector<Root>> list_roots(db::Tx& tx) {
  std::vector<Root> out;
  for (auto& r : TRY(tx.query(std::string("SELECT ") + kRootCols + " FROM image_roots ORDER BY digest")))
    out.push_back(root_of(r));
  return out;
}

nlohmann::json Credential::json() const {
  return {{"id", id},
          {"org_id", org_id},
          {"host", host},
          {"username", username},
          {"created_by", created_by},
          {"created_at", format_rfc3339(created_ms)},
          {"etag", http::etag_of(version)}};
}

Status insert_credential(db::Tx& tx, const Credential& c) {
  auto r = tx.exec(std::string("INSERT INTO image_registries (") + kCredCols + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   {c.id, c.org_id, c.host, c.username, c.password_sealed, c.created_by, c.created_ms, c.version});
  if (!r && r.error().code == ErrorCode::kAlreadyExists)
    return fail(Error(ErrorCode::kAlreadyExists, "registry-exists",
                      "the organisation has credentials for " + c.host + " already; remove them first")
                    .with("field", "host"));
  if (!r) return std::unexpected(r.error());
  return {};
}

Result<std::vector<Credential>> list_credentials(db::Tx& tx, const std::string& org_id) {
  std::vector<Credential> out;
  for (auto& r : TRY(tx.query(std::string("SELECT ") + kCredCols + " FROM image_registries WHERE org_id = ? ORDER BY host",
                              {org_id})))
    out.push_back(credential_of(r));
  return out;
}

Result<std::optional<Credential>> get_credential(db::Tx& tx, const std::string& id) {
  auto r = TRY(tx.query_one(std::string("SELECT ") + kCredCols + " FROM image_registries WHERE id = ?", {id}));
  if (!r) return std::optional<Credential>{};
  return std::optional<Credential>{credential_of(*r)};
}

Result<std::optional<Credential>> find_credential(db::Tx& tx, const std::string& org_id, const std::string& host) {
  auto r = TRY(tx.query_one(std::string("SELECT ") + kCredCols + " FROM image_registries WHERE org_id = ? AND host = ?",
                            {org_id, host}));
  if (!r) return std::optional<Credential>{};
  return std::optional<Credential>{credential_of(*r)};
}

Result<bool> delete_credential(db::Tx& tx, const std::string& id) {
  return TRY(tx.exec("DELETE FROM image_registries WHERE id = ?", {id})) == 1;
}

Result<Default> get_default(db::Tx& tx, const std::string& project_id) {
  auto r = TRY(tx.query_one("SELECT image_id, version FROM image_defaults WHERE project_id = ?", {project_id}));
  if (!r) return Default{};
  return Default{r->str(0), r->i64(1)};
}

Status set_default(db::Tx& tx, const std::string& project_id, const std::string& org_id, const std::string& image_id,
                   Millis now) {
  TRY(tx.exec("INSERT INTO image_defaults (project_id, org_id, image_id, updated_ms) VALUES (?, ?, ?, ?) "
              "ON CONFLICT (project_id) DO UPDATE SET image_id = excluded.image_id, updated_ms = excluded.updated_ms, "
              "version = image_defaults.version + 1",
              {project_id, org_id, image_id, now}));
  return {};
}

Status clear_defaults_of(db::Tx& tx, const std::string& image_id) {
  TRY(tx.exec("UPDATE image_defaults SET image_id = '', version = version + 1 WHERE image_id = ?", {image_id}));
  return {};
}

}  // namespace store
}  // namespace atrium::images
