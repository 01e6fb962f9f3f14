// The web UI at /: its files under /assets/ (hashed names, cached for a year), and index.html for
// every other path that is not the API's, git's or an environment's, so that the UI's own
// router shows the page. Every answer carries the UI's Content-Security-Policy.
#pragma once

#include <optional>

#include "http/message.hpp"
#include "web/assets.hpp"

namespace atrium::web {

// No inline script, nothing from another origin, never framed.
inline constexpr const char* kContentSecurityPolicy =
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; frame-src 'none'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'";

// The answer for a GET or HEAD no API route matched: nullopt leaves it to the API's 404 (paths
// under /api/, git's .git paths). `assets` null: the UI was not built; / says so.
std::optional<http::Response> serve(const Assets* assets, const http::Request& req);

// Atrium's pages on an environment's own origin, where only /_atrium/ is Atrium's: the terminal
// page (/_atrium/terminal, the build's terminal.html: xterm.js talking to the terminal app's
// WebSocket on that same origin) and the built files it names (/_atrium/assets/...). nullopt: not
// one of them (or the UI was not built).
std::optional<http::Response> serve_env_page(const Assets* assets, const http::Request& req);

}  // namespace atrium::web
