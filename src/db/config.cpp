#include "db/config.hpp"

namespace atrium::db {

void declare(config::Registry& r, Config& c) {
  r.section("database", c)
      .string("sqlite_synchronous", "SQLite synchronous mode", &Config::sqlite_synchronous, {"full", "normal"})
      .integer("busy_timeout_ms", "SQLite busy timeout", &Config::busy_timeout_ms, 0, 600000);
}

}  // namespace atrium::db
