#include "cli/api.hpp"

#include <ostream>

#include "core/text.hpp"

namespace atrium::cli {

using nlohmann::json;

namespace {

constexpr std::string_view kProblemPrefix = "urn:atrium:problem:";
constexpr int kMaxPages = 100000;  // a server that loops its cursor must not hang us forever

std::string str_field(const json& j, const char* key) {
  if (!j.is_object()) return {};
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string{};
}

std::string reason_phrase(int status) {
  switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 412: return "Precondition Failed";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 422: return "Unprocessable Content";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 507: return "Insufficient Storage";
    default: return "HTTP " + std::to_string(status);
  }
}

}  // namespace

ErrorCode code_for_status(int status) {
  switch (status) {
    case 400: return ErrorCode::kInvalidArgument;
    case 401: return ErrorCode::kUnauthenticated;
    case 403: return ErrorCode::kPermissionDenied;
    case 404: return ErrorCode::kNotFound;
    case 405: return ErrorCode::kMethodNotAllowed;
    case 409: return ErrorCode::kFailedPrecondition;
    case 412: return ErrorCode::kPreconditionFailed;
    case 413: return ErrorCode::kPayloadTooLarge;
    case 415: return ErrorCode::kUnsupportedMediaType;
    case 422: return ErrorCode::kUnprocessable;
    case 428: return ErrorCode::kPreconditionRequired;
    case 416: return ErrorCode::kRangeNotSatisfiable;
    case 429: return ErrorCode::kResourceExhausted;
    case 503: return ErrorCode::kUnavailable;
    case 507: return ErrorCode::kQuotaExceeded;
    default: return status >= 400 && status < 500 ? ErrorCode::kInvalidArgument : ErrorCode::kInternal;
  }
}

Error error_from_response(const HttpResponse& r) {
  Error e;
  e.code = code_for_status(r.status);
  e.extra["status"] = r.status;
  json body = json::parse(r.body, nullptr, false);
  std::string type = str_field(body, "type");
  if (type.starts_with(kProblemPrefix)) type = type.substr(kProblemPrefix.size());
  e.type = type.empty() ? "http-" + std::to_string(r.status) : type;
  e.detail = str_field(body, "detail");
  std::string title = str_field(body, "title");
  if (e.detail.empty()) e.detail = !title.empty() ? title : reason_phrase(r.status);
  if (!title.empty()) e.extra["title"] = title;
  std::string request_id = str_field(body, "request_id");
  if (request_id.empty()) {
    if (auto h = r.header("x-request-id")) request_id = std::string(*h);
  }
  if (!request_id.empty()) e.extra["request_id"] = request_id;
  if (auto ra = r.header("retry-after")) e.extra["retry_after"] = std::string(*ra);
  if (r.status >= 300 && r.status < 400) {
    auto loc = r.header("location");
    e.detail = "the server answered with a redirect" + (loc ? " to " + std::string(*loc) : std::string{}) +
               "; check --server (redirects are not followed)";
  }
  // Pass through the problem's extension members (e.g. field names) for --json users.
  if (body.is_object()) {
    for (auto it = body.begin(); it != body.end(); ++it) {
      static constexpr std::string_view kStd[] = {"type", "title", "status", "detail", "instance", "request_id"};
      bool standard = false;
      for (auto k : kStd) standard = standard || it.key() == k;
      if (!standard) e.extra[it.key()] = it.value();
    }
  }
  return e;
}

Result<Page> parse_page(const json& body) {
  Page p;
  if (body.is_array()) {
    p.items = body.get<std::vector<json>>();
    return p;
  }
  if (!body.is_object() || !body.contains("items") || !body["items"].is_array())
    return fail(ErrorCode::kInternal, "bad-response", "the server sent a list without \"items\"");
  p.items = body["items"].get<std::vector<json>>();
  if (auto it = body.find("next"); it != body.end() && it->is_string() && !it->get<std::string>().empty())
    p.next = it->get<std::string>();
  return p;
}

std::optional<std::string> set_cookie_value(const HttpResponse& r, std::string_view name) {
  for (auto header : r.all_headers("set-cookie")) {
    auto semi = header.find(';');
    auto pair = header.substr(0, semi);
    auto eq = pair.find('=');
    if (eq == std::string_view::npos) continue;
    auto key = pair.substr(0, eq);
    while (!key.empty() && key.front() == ' ') key.remove_prefix(1);
    while (!key.empty() && key.back() == ' ') key.remove_suffix(1);
    if (key != name) continue;
    auto value = pair.substr(eq + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
    return std::string(value);
  }
  return std::nullopt;
}

Result<HttpResponse> ApiClient::send_raw(const ApiCall& call, const Headers& headers) {
  HttpRequest req;
  req.method = call.method;
  req.target = call.target();
  req.headers.emplace_back("Accept", "application/json, application/problem+json");
  if (call.body) {
    req.headers.emplace_back("Content-Type", "application/json");
    req.body = call.body->dump();
  } else if (call.raw_body) {
    req.headers.emplace_back("Content-Type", "application/offset+octet-stream");
    req.body = *call.raw_body;
  }
  if (!token_.empty()) req.headers.emplace_back("Authorization", "Bearer " + token_);
  for (const auto& h : headers) req.headers.push_back(h);

  HttpResponse res = TRY(transport_(req));
  if (res.status < 200 || res.status >= 300) return fail(error_from_response(res));
  return res;
}

Result<ApiReply> ApiClient::send(const ApiCall& call, const Headers& headers) {
  HttpResponse res = TRY(send_raw(call, headers));
  ApiReply reply;
  reply.status = res.status;
  if (auto etag = res.header("etag")) reply.etag = std::string(*etag);
  if (!res.body.empty() && res.status != 204) {
    reply.body = json::parse(res.body, nullptr, false);
    if (reply.body.is_discarded())
      return fail(ErrorCode::kInternal, "bad-response",
                  call.method + " " + call.path + ": the server sent a response that is not JSON");
  }
  reply.raw = std::move(res);
  return reply;
}

Result<ApiReply> ApiClient::get(const std::string& path) {
  ApiCall c;
  c.path = path;
  return send(c);
}

Result<Page> ApiClient::page(const ApiCall& call) {
  auto reply = TRY(send(call));
  return parse_page(reply.body);
}

Status ApiClient::each_page(ApiCall call, const std::function<void(Page&)>& on_page) {
  std::string last_cursor;
  for (int i = 0; i < kMaxPages; ++i) {
    Page p = TRY(page(call));
    on_page(p);
    if (!p.next) return {};
    if (*p.next == last_cursor) return fail(ErrorCode::kInternal, "bad-response", "the server repeated a list cursor");
    last_cursor = *p.next;
    std::erase_if(call.query, [](const auto& kv) { return kv.first == "after"; });
    call.query.emplace_back("after", *p.next);
  }
  return fail(ErrorCode::kInternal, "bad-response", "too many pages");
}

Result<std::vector<json>> ApiClient::all_pages(const ApiCall& call) {
  std::vector<json> out;
  TRY_STATUS(each_page(call, [&](Page& p) {
    for (auto& item : p.items) out.push_back(std::move(item));
  }));
  return out;
}

Result<std::string> ApiClient::etag_of(const std::string& object_path) {
  auto reply = TRY(get(object_path));
  if (!reply.etag.empty()) return reply.etag;
  std::string body_etag = str_field(reply.body, "etag");
  if (!body_etag.empty()) return quote_etag(body_etag);
  return fail(ErrorCode::kInternal, "bad-response", object_path + ": the server sent no ETag");
}

Result<ApiReply> ApiClient::send_if_match(const ApiCall& call, const std::string& object_path) {
  std::string etag = TRY(etag_of(object_path));
  return send(call, {{"If-Match", etag}});
}

Result<std::string> ApiClient::resolve_org(std::string_view arg) {
  if (arg.empty()) return usage_error("an org id or slug is required");
  if (is_org_id(arg)) return std::string(arg);
  std::string slug = to_lower(arg);
  ApiCall c;
  c.path = api_path({"orgs"});
  c.query.emplace_back("limit", "200");
  auto orgs = TRY(all_pages(c));
  for (const auto& o : orgs)
    if (str_field(o, "slug") == slug) return str_field(o, "id");
  return fail(ErrorCode::kNotFound, "not-found", "org '" + std::string(arg) + "' not found (or you are not a member)");
}

Result<std::string> ApiClient::resolve_project(std::string_view arg) {
  if (arg.empty()) return usage_error("a project (ORG/PROJECT or its id) is required");
  auto slash = arg.find('/');
  if (slash == std::string_view::npos) {
    if (is_project_id(arg)) return std::string(arg);
    return usage_error("project '" + std::string(arg) + "': give ORG/PROJECT (e.g. acme/climate) or a project id (prj_...)");
  }
  std::string_view org = arg.substr(0, slash), slug = arg.substr(slash + 1);
  if (slug.ends_with(".git")) slug.remove_suffix(4);  // pasted from a clone URL
  if (org.empty() || slug.empty() || slug.find('/') != std::string_view::npos)
    return usage_error("project '" + std::string(arg) + "': expected ORG/PROJECT");
  std::string org_ref = is_org_id(org) ? std::string(org) : to_lower(org);
  auto r = TRY(get(api_path({"orgs", org_ref, "projects", to_lower(slug)})));
  std::string id = str_field(r.body, "id");
  if (id.empty()) return fail(ErrorCode::kInternal, "bad-response", "the project lookup returned no id");
  return id;
}

Result<std::string> ApiClient::resolve_user(std::string_view arg) {
  if (arg.empty()) return usage_error("a user id or username is required");
  if (is_user_id(arg)) return std::string(arg);
  std::string name = to_lower(arg);
  ApiCall c;
  c.path = api_path({"users"});
  c.query.emplace_back("limit", "200");
  auto users = TRY(all_pages(c));
  for (const auto& u : users)
    if (to_lower(str_field(u, "username")) == name) return str_field(u, "id");
  return fail(ErrorCode::kNotFound, "not-found", "user '" + std::string(arg) + "' not found");
}

Result<MemberRef> ApiClient::find_member(const std::string& members_path, std::string_view user) {
  if (user.empty()) return usage_error("a user id or username is required");
  ApiCall c;
  c.path = members_path;
  c.query.emplace_back("limit", "200");
  auto rows = TRY(all_pages(c));
  std::string name = to_lower(user);
  bool rows_have_usernames = false;
  auto match = [&](std::string_view want_id, bool by_name) -> std::optional<MemberRef> {
    for (auto& row : rows) {
      // Rows are {user_id, username?, ...}; tolerate a nested {user: {id, username}} as well.
      std::string id = str_field(row, "user_id");
      std::string username = str_field(row, "username");
      if (row.is_object() && row.contains("user") && row["user"].is_object()) {
        if (id.empty()) id = str_field(row["user"], "id");
        if (username.empty()) username = str_field(row["user"], "username");
      }
      rows_have_usernames = rows_have_usernames || !username.empty();
      if (id == want_id || (by_name && !username.empty() && to_lower(username) == name)) {
        std::string etag = str_field(row, "etag");
        return MemberRef{id, etag.empty() ? "*" : quote_etag(etag), row};
      }
    }
    return std::nullopt;
  };
  if (auto m = match(user, true)) return *m;
  // Rows without usernames (project members): look the name up, then match by id.
  if (!is_user_id(user) && !rows_have_usernames) {
    auto id = resolve_user(user);
    if (!id && id.error().code != ErrorCode::kNotFound) return fail(id.error());
    if (id) {
      if (auto m = match(*id, false)) return *m;
    }
  }
  return fail(ErrorCode::kNotFound, "not-found", "'" + std::string(user) + "' is not a member");
}

namespace {

std::optional<std::int64_t> int_header(const HttpResponse& r, std::string_view name) {
  auto h = r.header(name);
  if (!h || h->empty() || h->size() > 18) return std::nullopt;
  std::int64_t v = 0;
  for (char c : *h) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

}  // namespace

Result<std::int64_t> stream_logs(ApiClient& api, const LogStream& s, std::ostream& out, const Sleeper& sleep) {
  using std::chrono::milliseconds;
  constexpr milliseconds kFirst{500}, kMax{2000};
  std::int64_t offset = s.offset;
  milliseconds idle = kFirst;
  while (true) {
    HttpResponse r = TRY(api.send_raw(job_logs(s.job_id, s.stderr_stream, offset)));
    auto next = int_header(r, "x-next-offset");
    auto size = int_header(r, "x-log-size");
    if (!next || *next < offset || static_cast<std::uint64_t>(*next - offset) < r.body.size())
      return fail(ErrorCode::kInternal, "bad-response", "the server sent logs without a valid X-Next-Offset");
    out.write(r.body.data(), static_cast<std::streamsize>(r.body.size()));
    out.flush();
    if (!out) return fail(ErrorCode::kInternal, "io", "writing the log to stdout failed");
    bool complete = r.header("x-log-complete") == std::optional<std::string_view>("true");
    offset = *next;
    bool more_now = size && offset < *size && !r.body.empty();  // the server sends at most one chunk per call
    if (more_now) {
      idle = kFirst;
      continue;
    }
    if (!s.follow || complete) return offset;
    if (!r.body.empty()) idle = kFirst;
    sleep(idle);
    if (r.body.empty()) idle = std::min(idle * 2, kMax);
  }
}

}  // namespace atrium::cli
