// Where environments are served: each on an origin of its own, <label>.<domain> (the label is the
// id as a DNS label: "env-" and the id's body in lower case), so that an app's pages can read no
// Atrium cookie, call no Atrium API with the user's session and register no service worker for
// Atrium's origin; or, opted into (path_mode), under <public_url>/env/<id>/ as before.
#pragma once

#include <string>
#include <string_view>

namespace atrium::envs {

struct Origins {
  std::string public_url;  // the main origin, no trailing slash: "https://atrium.example.org"
  std::string domain = "env.localhost";
  bool path_mode = false;

  // The environment's origin: the main origin's scheme and port, host <label>.<domain>.
  std::string origin(const std::string& env_id) const;
  // Where a browser opens it: origin + "/" (path_mode: <public_url>/env/<id>/).
  std::string url(const std::string& env_id) const;
  // The path prefix the app is started with: "/" (path_mode: "/env/<id>/").
  std::string base_url(const std::string& env_id) const;
  // The environment whose host a Host header names ("" = none): "<label>.<domain>[:port]", any case.
  std::string env_of_host(std::string_view host) const;
};

// "env_01J..." <-> "env-01j...": a DNS label (a certificate's wildcard never covers '_').
std::string host_label(const std::string& env_id);
std::string env_of_label(std::string_view label);  // "" = not an environment's label

// The main origin: the configured one, or http(s)://localhost:<port>.
std::string resolve_public_url(const std::string& configured, bool tls, unsigned short port);

}  // namespace atrium::envs
