// The relying party's back channel to a provider (discovery, JWKS, token endpoint): one blocking
// HTTPS request with libcurl, TLS verified (the system's CAs, or the provider's ca_file), timeouts,
// no redirects followed, a bounded answer. Callers run it on the worker pool.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/error.hpp"

namespace atrium::sso {

struct FetchRequest {
  std::string url;
  std::string form_body;  // non-empty: POST application/x-www-form-urlencoded
  std::string basic_user, basic_password;  // client_secret_basic when set
  std::string ca_file;  // PEM bundle to trust instead of the system's (a private CA)
  long timeout_ms = 10'000;
  // Plain http:// is refused unless this is set (tests that cannot use TLS; never from config).
  bool allow_http = false;
};

struct FetchResponse {
  long status = 0;
  std::string body;
};

// A transport failure (DNS, connect, TLS, timeout, an answer over 1 MiB) is kUnavailable with a
// detail naming the URL and the reason; any HTTP status is a response.
Result<FetchResponse> fetch(const FetchRequest& req);

// application/x-www-form-urlencoded of the pairs (RFC 3986 unreserved kept, the rest %XX).
std::string form_encode(const std::vector<std::pair<std::string, std::string>>& pairs);

}  // namespace atrium::sso
