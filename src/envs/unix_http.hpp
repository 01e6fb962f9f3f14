// A small blocking HTTP/1.1 client over a unix socket, for the monitor's health checks, the apps'
// own status and their graceful shutdown. One request per connection (Connection: close).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/clock.hpp"
#include "core/error.hpp"

namespace atrium::envs {

struct UnixReply {
  int status = 0;
  std::string body;
};

// `path` may be longer than sun_path allows (it is then reached through its directory).
Result<UnixReply> unix_http(const std::string& path, const std::string& method, const std::string& target,
                            const std::vector<std::pair<std::string, std::string>>& headers, Millis timeout_ms,
                            std::size_t max_body = 1 << 20);

}  // namespace atrium::envs
