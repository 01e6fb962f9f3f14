// The vcs module's rows: the branch patterns of a project that may not be deleted or force-pushed.
// Every change is made in the caller's transaction (the caller audits it).
#pragma once

#include <string>
#include <vector>

#include "core/clock.hpp"
#include "core/error.hpp"
#include "db/database.hpp"

namespace atrium::vcs {

std::vector<db::Migration> migrations();

struct ProtectedBranch {
  std::string pattern, created_by;
  Millis created = 0;
};

// The branch patterns that may not be deleted or force-pushed, in pattern order.
Result<std::vector<std::string>> protected_patterns(db::Tx& tx, const std::string& project_id);
Result<std::vector<ProtectedBranch>> list_protected_branches(db::Tx& tx, const std::string& project_id);
// Whether the pattern was added (false: it was protected already).
Result<bool> protect_branches(db::Tx& tx, const std::string& project_id, const ProtectedBranch& b);
// Whether the pattern was protected.
Result<bool> unprotect_branches(db::Tx& tx, const std::string& project_id, const std::string& pattern);

}  // namespace atrium::vcs
