#include "secrets/store.hpp"

#include "http/etag.hpp"
#include "secrets/secrets.hpp"

namespace atrium::secrets {

std::vector<db::Migration> migrations() {
  return {{1, "secrets",
           R"SQL(
CREATE TABLE secrets (
  scope TEXT NOT NULL, owner_id TEXT NOT NULL, org_id TEXT NOT NULL DEFAULT '', name TEXT NOT NULL,
  sealed TEXT NOT NULL, description TEXT NOT NULL DEFAULT '',
  created_ms INTEGER NOT NULL, created_by TEXT NOT NULL, updated_ms INTEGER NOT NULL, updated_by TEXT NOT NULL,
  version INTEGER NOT NULL DEFAULT 1,
  PRIMARY KEY (scope, owner_id, name));
)SQL"}};
}

namespace store {
namespace {

constexpr const char* kCols =
    "scope, owner_id, org_id, name, sealed, description, created_ms, created_by, updated_ms, updated_by, version";

Row row_of(const db::Row& r) {
  return Row{r.str(0), r.str(1), r.str(2), r.str(3), r.str(4), r.str(5), r.i64(6), r.i64(8), r.str(7), r.str(9),
             r.i64(10)};
}

}  // namespace

nlohmann::json Row::json() const {
  nlohmann::json j = {{"name", name},
                      {"scope", scope},
                      {"description", description},
                      {"created_at", format_rfc3339(created)},
                      {"created_by", created_by},
                      {"updated_at", format_rfc3339(updated)},
                      {"updated_by", updated_by},
                      {"version", version},
                      {"etag", http::etag_of(version)}};
  if (scope == "project") j["project_id"] = owner_id;
  return j;
}

Result<std::optional<Row>> find(db::Tx& tx, const std::string& scope, const std::string& owner_id,
                                const std::string& name) {
  auto r = TRY(tx.query_one(std::string("SELECT ") + kCols +
                                " FROM secrets WHERE scope = ? AND owner_id = ? AND name = ?",
                            {scope, owner_id, name}));
  if (!r) return std::optional<Row>{};
  return std::optional<Row>{row_of(*r)};
}

Result<std::vector<Row>> list(db::Tx& tx, const std::string& scope, const std::string& owner_id,
                              const std::string& after, int limit) {
  std::vector<Row> out;
  for (auto& r : TRY(tx.query(std::string("SELECT ") + kCols +
                                  " FROM secrets WHERE scope = ? AND owner_id = ? AND name > ? ORDER BY name LIMIT ?",
                              {scope, owner_id, after, static_cast<std::int64_t>(limit)})))
    out.push_back(row_of(r));
  return out;
}

Result<std::int64_t> count(db::Tx& tx, const std::string& scope, const std::string& owner_id) {
  auto r = TRY(tx.query_one("SELECT COUNT(*) FROM secrets WHERE scope = ? AND owner_id = ?", {scope, owner_id}));
  return r ? r->i64(0) : 0;
}

Status insert(db::Tx& tx, const Row& r) {
  TRY(tx.exec("INSERT INTO secrets (scope, owner_id, org_id, name, sealed, description, created_ms, created_by, "
              "updated_ms, updated_by, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
              {r.scope, r.owner_id, r.org_id, r.name, r.sealed, r.description, r.created, r.created_by, r.updated,
               r.updated_by}));
  return {};
}

Status update(db::Tx& tx, const Row& r, std::int64_t version) {
  auto n = TRY(tx.exec("UPDATE secrets SET sealed = ?, description = ?, updated_ms = ?, updated_by = ?, "
                       "version = version + 1 WHERE scope = ? AND owner_id = ? AND name = ? AND version = ?",
                       {r.sealed, r.description, r.updated, r.updated_by, r.scope, r.owner_id, r.name, version}));
  if (n == 0) return fail(ErrorCode::kAborted, "concurrent-change", "the secret changed meanwhile; retry");
  return {};
}

Status remove(db::Tx& tx, const std::string& scope, const std::string& owner_id, const std::string& name) {
  TRY(tx.exec("DELETE FROM secrets WHERE scope = ? AND owner_id = ? AND name = ?", {scope, owner_id, name}));
  return {};
}

Status remove_owner(db::Tx& tx, const std::string& scope, const std::string& owner_id) {
  TRY(tx.exec("DELETE FROM secrets WHERE scope = ? AND owner_id = ?", {scope, owner_id}));
  return {};
}

}  // namespace store
}  // namespace atrium::secrets
