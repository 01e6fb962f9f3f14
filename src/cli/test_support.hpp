// Shared by the CLI's unit tests: canned responses and a scripted server.
#pragma once

#include <deque>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "cli/http_client.hpp"

namespace atrium::cli::testing {

inline constexpr const char* kOrgA = "org_01JD3X8V0Q6Y2M4K9T7R5W1ZCA";
inline constexpr const char* kOrgB = "org_01JD3X8V0Q6Y2M4K9T7R5W1ZCB";
inline constexpr const char* kUser = "usr_01JD3X8V0Q6Y2M4K9T7R5W1ZCA";

inline HttpResponse response(int status, std::string body, Headers headers = {}) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  r.headers = std::move(headers);
  return r;
}

// A scripted server: answers requests from a table and records what it was sent.
struct FakeServer {
  std::map<std::string, std::deque<HttpResponse>> routes;  // "METHOD target" -> responses in order
  std::vector<HttpRequest> seen;

  Transport transport() {
    return [this](const HttpRequest& req) -> Result<HttpResponse> {
      seen.push_back(req);
      auto it = routes.find(req.method + " " + req.target);
      if (it == routes.end() || it->second.empty())
        return response(404, R"({"type":"urn:atrium:problem:not-found","detail":"no route )" + req.target + "\"}");
      HttpResponse r = it->second.front();
      if (it->second.size() > 1) it->second.pop_front();
      return r;
    };
  }
  static std::string header(const HttpRequest& r, std::string_view name) {
    for (const auto& [k, v] : r.headers)
      if (k == name) return v;
    return {};
  }
};

}  // namespace atrium::cli::testing
