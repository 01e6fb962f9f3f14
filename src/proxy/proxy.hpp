// The authenticated reverse proxy in front of environments. Each environment has an origin of its
// own (<label>.<envs.domain>, see envs/origin.hpp): every request to that host is forwarded, path
// unchanged, to the environment's unix socket once the caller is known (a bearer token, the
// environment's own cookie, or a guest link), may use that environment (its owner, or a guest) and
// the request is not cross-site. The browser signs in there with a one-time ticket that the main
// origin's `/env/{id}/...` hands out to a signed-in session; Atrium's session and CSRF cookies
// never reach the environment's origin. (Opted into, envs.path_mode serves `/env/{id}/...` on the
// main origin as before.) The relay itself (HTTP/1.1 bodies streamed both ways, WebSocket tunnels)
// is the HTTP server's (http::ProxySettings); this module decides, Beast-free, what happens to each
// request.
#pragma once

#include <atomic>
#include <functional>
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
#include "core/notifier.hpp"
#include "db/database.hpp"
#include "envs/origin.hpp"
#include "http/gate.hpp"
#include "http/server.hpp"

namespace atrium::envs {
class Service;
}

namespace atrium::proxy {

inline constexpr std::string_view kPrefix = "/env/";
inline constexpr std::string_view kGuestParam = "atrium_guest";
std::string guest_cookie_name(const std::string& env_id);
// On an environment's origin: where a ticket is exchanged for the environment's cookie (never
// forwarded: /_atrium/ is Atrium's), and that cookie (host-only, HttpOnly).
inline constexpr std::string_view kReservedPrefix = "/_atrium/";
inline constexpr std::string_view kAuthPath = "/_atrium/auth";
inline constexpr std::string_view kEnvCookie = "atrium_env";
inline constexpr Millis kTicketTtl = 60'000;

// A sign-in ticket: who (user, and the Atrium session it came from) may open which environment,
// until when; HMAC-signed with the server's key, used once (nonce).
struct Ticket {
  std::string env_id, user_id, session_id, nonce;
  Millis expires = 0;
};
std::string seal_ticket(std::string_view key, const Ticket& t);
// The ticket if `text` is one signed with `key` and not expired at `now`.
Result<Ticket> open_ticket(std::string_view key, std::string_view text, Millis now);
// The environment's cookie: an environment, a user, the session it lives and dies with; signed.
struct EnvCookie {
  std::string env_id, user_id, session_id;
};
std::string seal_env_cookie(std::string_view key, const EnvCookie& c);
std::optional<EnvCookie> open_env_cookie(std::string_view key, std::string_view text);

// Tickets already used, until they expire (one process: the server that signs them).
class TicketLedger {
 public:
  // True the first time a nonce is used.
  bool use(const std::string& nonce, Millis expires, Millis now);

 private:
  std::mutex mu_;
  std::unordered_map<std::string, Millis> used_;  // GUARDED_BY(mu_): nonce -> expiry
};

// A request target on an environment's own origin that may be forwarded unchanged: an absolute
// path with the same segment rules as parse_target.
Status check_origin_target(std::string_view target);
// Where the ticket exchange may send the browser on: a path on the same host ("/...", not "//").
bool safe_next(std::string_view next);

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
// requests after the first skip the database and the worker pool. Every change the modules that
// decide signal (an environment's state or guest links, identity's tokens, sessions, memberships
// and roles, projects and their members) forgets them all at once; `ttl` bounds what no signal
// covers (another replica's writes).
struct DecisionCache {
  struct Entry {
    std::string env_id, socket_path, token;
    std::uint32_t socket_uid = 0;  // app.sock must be a socket of the env's uid
    bool cookie_auth = false;
    bool own_origin = false;  // on the environment's own origin (else /env/{id}/ in path mode)
    std::string user_id;      // the caller ("" for a guest): counted against its connection cap
    std::uint64_t generation = 0;  // the cache's generation when decided (taken before the reads)
    Millis expires = 0;
  };
  Millis ttl = 2000;
  std::size_t max_entries = 10000;
  std::mutex mu;
  std::unordered_map<std::string, Entry> entries;  // GUARDED_BY(mu)
  std::atomic<std::uint64_t> generation{0};

  DecisionCache() = default;
  DecisionCache(const DecisionCache&) = delete;
  DecisionCache& operator=(const DecisionCache&) = delete;
  // Forgets every decision whenever `n` fires. The cache must go before `n` does.
  void follow(const Notifier& n);
  void forget_all();

 private:
  std::vector<Notifier::Subscription> subscriptions_;
};

struct Deps {
  db::Database& db;
  http::Gatekeeper& gate;
  envs::Service& envs;
  const Clock& clock;
  DecisionCache* cache = nullptr;
  const envs::Origins* origins = nullptr;  // null or path_mode: /env/{id}/ on the main origin only
  std::string key;                         // signs tickets and environment cookies
  Millis session_idle_ms = 2LL * 3600 * 1000;
  TicketLedger* tickets = nullptr;
  // Atrium's own pages under /_atrium/ on an environment's origin (the terminal page and its
  // files: web::serve_env_page); nullopt or unset: 404.
  std::function<std::optional<http::Response>(const http::Request&)> pages;
};

// Decides one request (runs on a worker thread).
http::ProxyTarget route(const Deps& deps, const http::Request& req);
// A remembered decision for this request (on the I/O thread; never blocks); nullopt: ask route().
std::optional<http::ProxyTarget> cached_route(const Deps& deps, const http::Request& req);

}  // namespace atrium::proxy
