// The CLI's view of the Atrium API: JSON calls with a bearer token, RFC 9457 problems turned into
// Errors, cursor pagination, ETag/If-Match round trips, and ORG/USER argument resolution.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/http_client.hpp"
#include "cli/requests.hpp"
#include "core/error.hpp"

namespace atrium::cli {

// Sends one HTTP request: http_send in the binary, a fake in tests.
using Transport = std::function<Result<HttpResponse>(const HttpRequest&)>;

struct ApiReply {
  int status = 0;
  nlohmann::json body;  // null for 204 / empty bodies
  std::string etag;     // the ETag header, if any
  HttpResponse raw;
};

struct Page {
  std::vector<nlohmann::json> items;
  std::optional<std::string> next;  // cursor for the following page
};

// A member row found in a members list (org, group or project).
struct MemberRef {
  std::string user_id;
  std::string etag;  // quoted; "*" when the row carries none
  nlohmann::json row;
};

ErrorCode code_for_status(int status);
// Turns a non-2xx response into an Error: detail from the problem document (or the status line),
// type from its urn:atrium:problem:<slug>, and status/title/request_id kept in `extra`.
Error error_from_response(const HttpResponse& r);
// {"items": [...], "next": ...} or a bare array (one complete page).
[[nodiscard]] Result<Page> parse_page(const nlohmann::json& body);
// The value of a cookie among Set-Cookie headers.
std::optional<std::string> set_cookie_value(const HttpResponse& r, std::string_view name);

class ApiClient {
 public:
  ApiClient(Transport transport, std::string token) : transport_(std::move(transport)), token_(std::move(token)) {}

  bool has_token() const { return !token_.empty(); }

  // Sends the call; a non-2xx status becomes an Error. `headers` are added to the defaults
  // (Accept, Content-Type when there is a body, Authorization when there is a token).
  [[nodiscard]] Result<ApiReply> send(const ApiCall& call, const Headers& headers = {});
  [[nodiscard]] Result<ApiReply> get(const std::string& path);
  // Like send, for a response that is not JSON (job logs): the body and headers as they came.
  [[nodiscard]] Result<HttpResponse> send_raw(const ApiCall& call, const Headers& headers = {});

  // One page of a list call.
  [[nodiscard]] Result<Page> page(const ApiCall& call);
  // Every page, following `next` cursors; `on_page` sees each page as it arrives (streaming) and
  // may clear its `next` to stop early.
  [[nodiscard]] Status each_page(ApiCall call, const std::function<void(Page&)>& on_page);
  // Every page's items in one vector.
  [[nodiscard]] Result<std::vector<nlohmann::json>> all_pages(const ApiCall& call);

  // GETs the object for its ETag, then sends `call` with If-Match.
  [[nodiscard]] Result<ApiReply> send_if_match(const ApiCall& call, const std::string& object_path);
  [[nodiscard]] Result<std::string> etag_of(const std::string& object_path);

  // An org id for an id or a slug (slugs looked up in GET /orgs).
  [[nodiscard]] Result<std::string> resolve_org(std::string_view arg);
  // A project id for an id (prj_...) or ORG/PROJECT (org id or slug, project slug), as people write
  // git URLs; looked up in GET /orgs/{org}/projects/{project}.
  [[nodiscard]] Result<std::string> resolve_project(std::string_view arg);
  // A user id for an id or a username (usernames looked up in GET /users).
  [[nodiscard]] Result<std::string> resolve_user(std::string_view arg);
  // The row of `user` (id or username) in a members list, with its ETag.
  [[nodiscard]] Result<MemberRef> find_member(const std::string& members_path, std::string_view user);

 private:
  Transport transport_;
  std::string token_;
};

// `atrium job logs`: writes a job's output from `offset` to `out`, chunk by chunk as the server
// hands them out (X-Next-Offset). Without `follow` it stops at the end of what is written now;
// with it, it keeps polling until the server says the log is complete (X-Log-Complete: true),
// sleeping 0.5 s after an empty poll and doubling up to 2 s while nothing new comes.
struct LogStream {
  std::string job_id;
  bool stderr_stream = false;
  bool follow = false;
  std::int64_t offset = 0;
};
using Sleeper = std::function<void(std::chrono::milliseconds)>;
// Returns the offset after the last byte written.
[[nodiscard]] Result<std::int64_t> stream_logs(ApiClient& api, const LogStream& s, std::ostream& out,
                                               const Sleeper& sleep);

}  // namespace atrium::cli
