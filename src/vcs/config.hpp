// The [git] section: how large a push and a served file may be.
#pragma once

#include <cstdint>

#include "core/config.hpp"

namespace atrium::vcs {

struct Config {
  std::int64_t max_push_bytes = 8LL << 30;   // one push (its pack), spooled to disk as it arrives
  std::int64_t max_file_bytes = 10LL << 20;  // file content served by the repository API
};

void declare(config::Registry& r, Config& c);

}  // namespace atrium::vcs
