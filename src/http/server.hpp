// The HTTP/1.1 server: Boost.Beast on C++20 coroutines, N I/O threads, a worker pool for the
// blocking request handling, limits (header size, body size, header/request/idle timeouts,
// connection count), request ids, optional TLS, graceful shutdown.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "core/error.hpp"
#include "http/api.hpp"

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
};
struct ProxySettings {
  std::string prefix;  // "/env/"
  std::function<ProxyTarget(const Request& head)> route;
  // Optional: a decision from memory, on the I/O thread (it must not block); nullopt: ask `route`.
  std::function<std::optional<ProxyTarget>(const Request& head)> cached_route;
};

struct ServerSettings {
  std::string host = "127.0.0.1";
  unsigned short port = 8080;
  int io_threads = 1;
  int worker_threads = 4;
  std::int64_t max_header_bytes = 16 * 1024;
  std::int64_t max_body_bytes = 1024 * 1024;
  int header_timeout_s = 10;
  int request_timeout_s = 60;
  int idle_timeout_s = 75;
  int shutdown_grace_s = 20;
  int max_connections = 10000;
  std::string tls_cert;
  std::string tls_key;
  std::shared_ptr<spdlog::logger> access_log;  // JSON lines; null = off
  std::function<void()> on_drain;              // called once when shutdown begins
  // The body limit of a request by method and target (larger for upload chunks); unset: max_body_bytes.
  std::function<std::int64_t(std::string_view method, std::string_view target)> body_limit_for;
  // Whether a request's body goes to a file in `spool_dir` as it arrives (Request::body_file)
  // instead of memory; each read then has its own request_timeout_s, not the whole body.
  std::function<bool(std::string_view method, std::string_view target)> spool_body_for;
  std::string spool_dir;
  ProxySettings proxy;  // prefix "" = none
};

class Server {
 public:
  Server(ServerSettings settings, Api& api, obs::Metrics& metrics);
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
