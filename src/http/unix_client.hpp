// A small async HTTP/1.1 client over a unix socket (Beast stays private to http/): the environment
// monitor's health checks, an app's own status and its graceful shutdown. One request per
// connection (Connection: close).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/async.hpp"
#include "core/clock.hpp"
#include "core/error.hpp"

namespace atrium::http {

struct UnixReply {
  int status = 0;
  std::string body;
};

struct UnixRequest {
  std::string socket_path;  // opened O_PATH | O_NOFOLLOW beneath its directory, never followed
  std::uint32_t owner_uid = 0;  // the socket must be a socket of this uid (core/dir.hpp: open_socket_at)
  std::string method = "GET";
  std::string target = "/";
  std::vector<std::pair<std::string, std::string>> headers;
  Millis timeout = 2000;  // the whole exchange
  std::size_t max_body = 1 << 20;
};

// The connection goes to the very inode that was checked (through /proc/self/fd), so a link
// planted in its place, or another uid's socket, is never reached. unavailable ("env-unreachable")
// when it cannot be reached, times out or does not answer HTTP. Runs on the caller's executor.
async::Task<Result<UnixReply>> unix_request(UnixRequest req);

}  // namespace atrium::http
