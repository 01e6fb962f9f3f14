// A small synchronous HTTP/1.1 client for the atrium CLI: one request per connection, whole
// responses in memory (API responses are small), http:// and https:// (verified by default).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.hpp"

namespace atrium::cli {

// A server base URL: scheme://host[:port][/prefix]. No user info, query or fragment.
// Hand-written: Boost.URL only arrived in Boost 1.81 and this is all the CLI needs.
struct Url {
  bool tls = false;
  std::string host;         // without IPv6 brackets
  std::string port;         // always set: explicit, or 80/443
  std::string base_path;    // "" or "/prefix" without a trailing slash
  bool explicit_port = false;

  // host[:port] as the Host header wants it (default ports omitted, IPv6 bracketed).
  std::string authority() const;
  // scheme://authority/base_path: the canonical form used to compare servers.
  std::string to_string() const;
};

Result<Url> parse_url(std::string_view text);

using Headers = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method = "GET";
  std::string target;  // origin-form path and query, relative to the server's base path
  Headers headers;     // besides Host, User-Agent, Content-Length, which the client sets
  std::optional<std::string> body;
};

struct HttpResponse {
  int status = 0;
  Headers headers;  // names lower-cased, in arrival order (Set-Cookie may repeat)
  std::string body;

  std::optional<std::string_view> header(std::string_view lower_name) const;
  std::vector<std::string_view> all_headers(std::string_view lower_name) const;
};

struct ClientOptions {
  bool insecure = false;  // skip certificate and host name verification
  std::chrono::seconds timeout{60};
  std::size_t max_body_bytes = 64u << 20;
};

// Sends one request and reads the whole response. Never follows redirects. Errors are transport
// failures only (connect, TLS, timeout, malformed response): any HTTP status is a response.
[[nodiscard]] Result<HttpResponse> http_send(const Url& server, const HttpRequest& request,
                                             const ClientOptions& options);

}  // namespace atrium::cli
