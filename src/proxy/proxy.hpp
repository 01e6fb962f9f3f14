// The authenticated reverse proxy in front of environments: `/env/{id}/...` is forwarded, path
// unchanged, to the environment's unix socket once the caller is known, may use that environment
// (its owner, or a guest link to it), and the request is not cross-site. The relay itself (HTTP/1.1
// bodies streamed both ways, WebSocket tunnels) is the HTTP server's (http::ProxySettings); this
// module decides, Beast-free, what happens to each request.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
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

// Decisions to forward, remembered for a short while per (environment, credential) so that the
// requests after the first skip the database and the worker pool: a revoked token or a changed
// role takes effect within `ttl`; any environment's state change forgets them all at once.
struct DecisionCache {
  struct Entry {
    std::string env_id, socket_path, token;
    std::uint32_t socket_uid = 0;  // app.sock must be a socket of the env's uid
    bool cookie_auth = false;
    std::int64_t changes = 0;  // envs::Service::change_count() when decided
    std::chrono::steady_clock::time_point expires;
  };
  std::chrono::milliseconds ttl{2000};
  std::size_t max_entries = 10000;
  std::mutex mu;
  std::unordered_map<std::string, Entry> entries;

  // After a commit: who may do what may have changed (a token or session revoked, a member
  // removed, a guest link revoked): forget every decision, so that it takes effect at once.
  void on_commit(const std::vector<std::string>& tables);
};

struct Deps {
  db::Database& db;
  http::Gatekeeper& gate;
  envs::Service& envs;
  const Clock& clock;
  DecisionCache* cache = nullptr;
};

// Decides one request (runs on a worker thread).
http::ProxyTarget route(const Deps& deps, const http::Request& req);
// A remembered decision for this request (on the I/O thread; never blocks); nullopt: ask route().
std::optional<http::ProxyTarget> cached_route(const Deps& deps, const http::Request& req);

}  // namespace atrium::proxy
