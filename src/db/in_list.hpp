// `x IN (?, ?, ...)` for a list of values, for the stores that filter by a set of ids.
#pragma once

#include <string>
#include <vector>

#include "db/database.hpp"

namespace atrium::db {

// Appends "(?, ?, ...)" for `values` to `sql` and the values to `params`.
inline void append_in(std::string& sql, Params& params, const std::vector<std::string>& values) {
  sql += "(";
  for (std::size_t i = 0; i < values.size(); ++i) {
    sql += i ? ", ?" : "?";
    params.emplace_back(values[i]);
  }
  sql += ")";
}

}  // namespace atrium::db
