// A small blocking HTTP/1.1 client over a unix socket, for the monitor's health checks, the apps'
// own status and their graceful shutdown. One request per connection (Connection: close).
#pragma once

#include <cstdint>
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

// The socket at `path` is opened O_PATH | O_NOFOLLOW beneath its directory and must be a socket
// owned by `owner_uid` (core/dir.hpp: Dir::open_socket_at); the connection goes to that very inode
// (through /proc/self/fd), so a link planted in its place, or another socket, is never reached.
Result<UnixReply> unix_http(const std::string& path, std::uint32_t owner_uid, const std::string& method, const std::string& target,
                            const std::vector<std::pair<std::string, std::string>>& headers, Millis timeout_ms,
                            std::size_t max_body = 1 << 20);

}  // namespace atrium::envs
