// The [limits] section: what the HTTP server accepts and how long it waits (app/ copies it into
// http::ServerSettings).
#pragma once

#include <cstdint>

#include "core/config.hpp"

namespace atrium::http {

struct Config {
  std::int64_t max_header_bytes = 16 * 1024;
  std::int64_t max_body_bytes = 1 * 1024 * 1024;
  int header_timeout_s = 10;      // a request's header must arrive within this (slowloris)
  int request_timeout_s = 60;     // the whole request (header + body) must arrive within this
  int idle_timeout_s = 75;        // keep-alive connection idle time
  int shutdown_grace_s = 20;      // SIGTERM: in-flight requests get this long
  int max_connections = 10000;
  int max_connections_per_ip = 256;     // connections not yet signed in, per client IP
  int max_connections_per_user = 256;   // connections of one signed-in user
  int preauth_timeout_s = 10;           // a connection must authenticate a request within this
  int upstream_header_timeout_s = 300;  // a proxied environment must start its answer within this
  int tunnel_idle_timeout_s = 4 * 3600; // a proxied WebSocket with no traffic this long is closed
};

void declare(config::Registry& r, Config& c);

}  // namespace atrium::http
