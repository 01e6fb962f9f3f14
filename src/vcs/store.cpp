#include "vcs/store.hpp"

namespace atrium::vcs {

std::vector<db::Migration> migrations() {
  return {{1, "protected branches",
           R"SQL(
CREATE TABLE protected_branches (
  project_id TEXT NOT NULL, pattern TEXT NOT NULL, created_by TEXT NOT NULL, created_ms INTEGER NOT NULL,
  PRIMARY KEY (project_id, pattern)) WITHOUT ROWID;
)SQL"}};
}

Result<std::vector<std::string>> protected_patterns(db::Tx& tx, const std::string& project_id) {
  std::vector<std::string> out;
  for (auto& b : TRY(list_protected_branches(tx, project_id))) out.push_back(std::move(b.pattern));
  return out;
}

Result<std::vector<ProtectedBranch>> list_protected_branches(db::Tx& tx, const std::string& project_id) {
  std::vector<ProtectedBranch> out;
  for (auto& r : TRY(tx.query(
           "SELECT pattern, created_by, created_ms FROM protected_branches WHERE project_id = ? ORDER BY pattern",
           {project_id})))
    out.push_back({r.str(0), r.str(1), r.i64(2)});
  return out;
}

Result<bool> protect_branches(db::Tx& tx, const std::string& project_id, const ProtectedBranch& b) {
  auto n =
      TRY(tx.exec("INSERT INTO protected_branches (project_id, pattern, created_by, created_ms) VALUES (?, ?, ?, ?) "
                  "ON CONFLICT DO NOTHING",
                  {project_id, b.pattern, b.created_by, b.created}));
  return n > 0;
}

Result<bool> unprotect_branches(db::Tx& tx, const std::string& project_id, const std::string& pattern) {
  auto n = TRY(tx.exec("DELETE FROM protected_branches WHERE project_id = ? AND pattern = ?", {project_id, pattern}));
  return n > 0;
}

}  // namespace atrium::vcs
