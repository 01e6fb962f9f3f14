#include "http/config.hpp"

namespace atrium::http {

void declare(config::Registry& r, Config& c) {
  r.section("limits", c)
      .integer("max_header_bytes", "largest request header", &Config::max_header_bytes, 1024, 1 << 20)
      .integer("max_body_bytes", "largest API request body", &Config::max_body_bytes, 1024, std::int64_t{1} << 32)
      .integer("header_timeout_s", "seconds for a request header to arrive", &Config::header_timeout_s, 1, 3600)
      .integer("request_timeout_s", "seconds for a whole request to arrive", &Config::request_timeout_s, 1, 86400)
      .integer("idle_timeout_s", "keep-alive idle seconds", &Config::idle_timeout_s, 1, 86400)
      .integer("shutdown_grace_s", "seconds in-flight requests get on SIGTERM", &Config::shutdown_grace_s, 0, 3600)
      .integer("max_connections", "open connections at most", &Config::max_connections, 1, 1000000)
      .integer("max_connections_per_ip", "connections not yet signed in per client IP (0 = no cap)",
               &Config::max_connections_per_ip, 0, 1000000)
      .integer("max_connections_per_user", "connections of one signed-in user (0 = no cap)",
               &Config::max_connections_per_user, 0, 1000000)
      .integer("preauth_timeout_s", "seconds a connection may stay open before it authenticates (0 = off)",
               &Config::preauth_timeout_s, 0, 86400)
      .integer("upstream_header_timeout_s", "seconds an environment has to start its answer",
               &Config::upstream_header_timeout_s, 1, 7 * 86400)
      .integer("tunnel_idle_timeout_s", "seconds a proxied WebSocket may stay silent", &Config::tunnel_idle_timeout_s,
               1, 30 * 86400);
}

}  // namespace atrium::http
