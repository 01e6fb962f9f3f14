// The authenticated reverse proxy in front of environments: `/env/{id}/...` is forwarded, path
// unchanged, to the environment's unix socket once the caller is known, may use that environment
// (its owner, or a guest link to it), and the request is not cross-site. The relay itself (HTTP/1.1
// bodies streamed both ways, WebSocket tunnels) is the HTTP server's (http::ProxySettings); this
// module decides, Beast-free, what happens to each request.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/clock.hpp"
#include "core/error.hpp"
#include "db/database.hpp"
#include "http/gate.hpp"
#include "http/server.hpp"

namespace atrium::envs {
class Service;
}

namespace atrium::proxy {

inline constexpr std::string_view kPrefix = "/env/";
inline constexpr std::string_view kGuestParam = "atrium_guest";
std::string guest_cookie_name(const std::string& env_id);

// The environment id of a request target and whether the rest of the path is safe to forward
// unchanged: no "." or ".." segment (also percent-encoded), no encoded "/" or "\" or NUL, no
// backslash or control character. `needs_slash`: "/env/<id>" without the trailing slash.
struct EnvTarget {
  std::string env_id;
  bool needs_slash = false;
};
Result<EnvTarget> parse_target(std::string_view target);

// The Cookie header without Atrium's own cookies (atrium_*): the app never sees the session.
std::string strip_atrium_cookies(std::string_view cookie_header);

struct Deps {
  db::Database& db;
  http::Gatekeeper& gate;
  envs::Service& envs;
  const Clock& clock;
};

// Decides one request (runs on a worker thread).
http::ProxyTarget route(const Deps& deps, const http::Request& req);

}  // namespace atrium::proxy
