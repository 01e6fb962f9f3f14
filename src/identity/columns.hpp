// Private to identity: the typed column lists of tables more than one of its files read.
#pragma once

#include "db/columns.hpp"
#include "identity/store.hpp"

namespace atrium::identity {

extern const db::Columns<User> kUserColumns;  // users
extern const db::Columns<Org> kOrgColumns;    // orgs

}  // namespace atrium::identity
