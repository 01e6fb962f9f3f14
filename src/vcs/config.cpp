#include "vcs/config.hpp"

namespace atrium::vcs {

void declare(config::Registry& r, Config& c) {
  r.section("git", c)
      .integer("max_push_bytes", "largest git push (the pack is spooled to disk)", &Config::max_push_bytes, 1 << 20,
               std::int64_t{1} << 44)
      .integer("max_file_bytes", "largest file the repository API serves", &Config::max_file_bytes, 1024,
               std::int64_t{1} << 30);
}

}  // namespace atrium::vcs
