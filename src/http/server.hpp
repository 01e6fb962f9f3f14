// The HTTP/1.1 server: Boost.Beast on C++20 coroutines, N I/O threads, the async runtime's worker
// pool for the blocking request handling, limits (header size, body size, header/request/idle timeouts,
// connection count), request ids, optional TLS, graceful shutdown.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "core/error.hpp"
#include "http/api.hpp"
#include "http/forwarded.hpp"

namespace atrium::async {
class Runtime;
}

namespace spdlog {
class logger;
}

namespace atrium::http {

// A reverse proxy for one path prefix (environments at /env/): the server hands such a request over
// after its header and relays it to a unix socket, body and response streamed both ways, and a
// WebSocket upgrade becomes a tunnel. `route` runs on a worker thread (it may read the database)
// and decides: refuse with a response, or forward with these header changes.
struct ProxyTarget {
  bool forward = false;
  Response refuse;                 // !forward: sent instead (the request's body is not read)
  std::string socket_path;         // forward: the upstream's unix socket
  // forward: when set, the socket must be a socket (not a link) owned by this uid, connected to
  // through an O_PATH fd of it (it lives in a directory its app's uid can write)
  std::optional<std::uint32_t> socket_uid;
  std::vector<std::string> strip;  // header names (lower case) removed before forwarding
  std::vector<std::pair<std::string, std::string>> add;  // headers added (after strip)
  std::function<void()> touch;     // called on traffic (at most every few seconds on a tunnel)
  std::string route = "proxy";     // the name metrics and the access log use
  std::string user;                // forward: the user it acts for (connection caps); "" for a guest
};
struct ProxySettings {
  std::string prefix;  // "/env/"
  // Optional: a Host whose every request goes to the proxy, whatever its path (an environment's own origin).
  std::function<bool(std::string_view host)> owns_host;
  std::function<ProxyTarget(const Request& head)> route;
  // Optional: a decision from memory, on the I/O thread (it must not block); nullopt: ask `route`.
  std::function<std::optional<ProxyTarget>(const Request& head)> cached_route;
};

struct ServerSettings {
  std::string host = "127.0.0.1";
  unsigned short port = 8080;
  int io_threads = 1;
  std::int64_t max_header_bytes = 16 * 1024;
  std::int64_t max_body_bytes = 1024 * 1024;
  int header_timeout_s = 10;
  int request_timeout_s = 60;
  int idle_timeout_s = 75;
  int shutdown_grace_s = 20;
  int max_connections = 10000;
  // Connections not yet attributed to a user (no authenticated request yet) per client IP; over
  // it, the IP's oldest such connection that is between requests is closed to make room, else
  // the new one is refused (503). 0 = no cap.
  int max_connections_per_ip = 256;
  // Connections attributed to one user (by an authenticated request); over it, 429. 0 = no cap.
  int max_connections_per_user = 256;
  // A connection that has not been attributed to a user within this many seconds of its accept
  // is closed (its reads time out). 0 = off.
  int preauth_timeout_s = 10;
  // A proxied request's upstream must send its response header within this (long polls fit).
  int upstream_header_timeout_s = 300;
  // A proxied tunnel (WebSocket) with no byte either way for this long is closed.
  int tunnel_idle_timeout_s = 4 * 3600;
  std::string tls_cert;
  std::string tls_key;
  std::shared_ptr<spdlog::logger> access_log;  // JSON lines; null = off
  std::function<void()> on_drain;              // called once when shutdown begins
  std::function<void(unsigned short port)> on_bound;  // in start(), once bound, before any request is served
  // The body limit of a request by method and target (larger for upload chunks); unset: max_body_bytes.
  std::function<std::int64_t(std::string_view method, std::string_view target)> body_limit_for;
  // Whether a request's body goes to a file in `spool_dir` as it arrives (Request::body_file)
  // instead of memory; each read then has its own request_timeout_s, not the whole body.
  std::function<bool(std::string_view method, std::string_view target)> spool_body_for;
  std::string spool_dir;
  // Free bytes a spooled body never takes from spool_dir's disk: 507 up front when the
  // Content-Length would, or when a chunked body crosses it.
  std::int64_t spool_reserve_bytes = 0;
  ProxySettings proxy;  // prefix "" = none
  // Peers whose X-Forwarded-For / X-Forwarded-Proto are believed (see forwarded.hpp); empty = none.
  std::vector<Cidr> trusted_proxies;
};

class Server {
 public:
  // Blocking work (request handling, proxy decisions) runs on `rt`'s worker pool.
  Server(ServerSettings settings, Api& api, obs::Metrics& metrics, async::Runtime& rt);
  ~Server();

  // Binds and starts accepting; returns the bound port (useful with port 0).
  Result<unsigned short> start();
  // Blocks until SIGTERM/SIGINT (or stop()), then drains: no new connections, in-flight
  // requests finish (up to shutdown_grace_s), idle keep-alive connections close.
  void wait();
  // Starts the graceful shutdown from any thread.
  void stop();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace atrium::http
