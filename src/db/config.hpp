// The [database] section: SQLite's durability and lock waits (app/ opens the database with it).
#pragma once

#include <string>

#include "core/config.hpp"

namespace atrium::db {

struct Config {
  std::string sqlite_synchronous = "full";  // full | normal
  int busy_timeout_ms = 5000;
};

void declare(config::Registry& r, Config& c);

}  // namespace atrium::db
