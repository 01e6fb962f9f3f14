// Private to identity: the typed column lists of tables more than one of its files read.
#pragma once

#include "db/columns.hpp"
#include "identity/store.hpp"

namespace atrium::identity {

extern const db::Columns<User> kUserColumns;  // users
extern const db::Columns<Org> kOrgColumns;    // orgs

// A LIKE pattern matching `text` anywhere, its wildcards taken literally (use with ESCAPE '\\').
std::string contains_pattern(const std::string& text);

}  // namespace atrium::identity
