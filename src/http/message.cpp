#include "http/message.hpp"

#include <algorithm>
#include <charconv>

#include "core/text.hpp"

namespace atrium::http {

std::optional<std::string_view> Request::header(std::string_view lower_name) const {
  for (auto& [k, v] : headers)
    if (k == lower_name) return std::string_view(v);
  return std::nullopt;
}

std::optional<std::string_view> Request::query_param(std::string_view name) const {
  for (auto& [k, v] : query)
    if (k == name) return std::string_view(v);
  return std::nullopt;
}

std::optional<std::string> Request::cookie(std::string_view name) const {
  for (auto& [k, v] : headers) {
    if (k != "cookie") continue;
    std::string_view s(v);
    while (!s.empty()) {
      auto semi = s.find(';');
      std::string_view part = s.substr(0, semi);
      while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
      auto eq = part.find('=');
      if (eq != std::string_view::npos && part.substr(0, eq) == name) return std::string(part.substr(eq + 1));
      if (semi == std::string_view::npos) break;
      s.remove_prefix(semi + 1);
    }
  }
  return std::nullopt;
}

Response Response::json(int status, const nlohmann::json& body) {
  Response r;
  r.status = status;
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

Response Response::no_content() {
  Response r;
  r.status = 204;
  r.content_type.clear();
  return r;
}

Response Response::text(int status, std::string body, std::string content_type) {
  Response r;
  r.status = status;
  r.content_type = std::move(content_type);
  r.body = std::move(body);
  return r;
}

Response Response::problem(const Error& e, std::string_view request_id) {
  nlohmann::json j = e.extra.is_object() ? e.extra : nlohmann::json::object();
  int status = http_status(e.code);
  j["type"] = "urn:atrium:problem:" + (e.type.empty() ? std::string(code_name(e.code)) : e.type);
  j["title"] = std::string(code_name(e.code));
  j["status"] = status;
  j["detail"] = e.detail;
  j["instance"] = "urn:atrium:request:" + std::string(request_id);
  j["request_id"] = std::string(request_id);
  Response r = json(status, j);
  r.content_type = "application/problem+json";
  return r;
}

Result<std::string> percent_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  auto hexv = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size()) return invalid("bad percent-encoding in URL");
      int hi = hexv(s[i + 1]), lo = hexv(s[i + 2]);
      if (hi < 0 || lo < 0) return invalid("bad percent-encoding in URL");
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  if (out.find('\0') != std::string::npos) return invalid("URL contains a NUL byte");
  if (!is_valid_utf8(out)) return invalid("URL is not valid UTF-8");
  return out;
}

Result<std::vector<std::pair<std::string, std::string>>> parse_query(std::string_view q) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!q.empty()) {
    auto amp = q.find('&');
    std::string_view part = q.substr(0, amp);
    if (!part.empty()) {
      auto eq = part.find('=');
      auto k = TRY(percent_decode(part.substr(0, eq), true));
      std::string v;
      if (eq != std::string_view::npos) v = TRY(percent_decode(part.substr(eq + 1), true));
      out.emplace_back(std::move(k), std::move(v));
    }
    if (amp == std::string_view::npos) break;
    q.remove_prefix(amp + 1);
  }
  if (out.size() > 100) return invalid("too many query parameters (at most 100)");
  return out;
}

Result<std::optional<std::pair<std::int64_t, std::int64_t>>> parse_byte_range(std::string_view h, std::int64_t size) {
  using R = std::optional<std::pair<std::int64_t, std::int64_t>>;
  auto unsatisfiable = [&] {
    return fail(Error(ErrorCode::kRangeNotSatisfiable, "range-not-satisfiable",
                      "the range is not within the file's " + std::to_string(size) + " bytes")
                    .with("size", size));
  };
  if (!h.starts_with("bytes=")) return R();  // other units are ignored (RFC 9110 14.2)
  h.remove_prefix(6);
  if (h.find(',') != std::string_view::npos) return R();  // several ranges: the whole file
  if (size <= 0) return unsatisfiable();  // an empty body has no byte to point at
  auto dash = h.find('-');
  if (dash == std::string_view::npos) return unsatisfiable();
  auto num = [](std::string_view s, std::int64_t& out) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return !s.empty() && ec == std::errc() && p == s.data() + s.size() && out >= 0;
  };
  std::int64_t a = 0, b = 0;
  std::string_view first = h.substr(0, dash), last = h.substr(dash + 1);
  if (first.empty()) {  // the last n bytes
    if (!num(last, b) || b == 0) return unsatisfiable();
    return R(std::pair{std::max<std::int64_t>(0, size - b), size});
  }
  if (!num(first, a) || a >= size) return unsatisfiable();
  if (last.empty()) return R(std::pair{a, size});
  if (!num(last, b) || b < a) return unsatisfiable();
  return R(std::pair{a, b >= size ? size : b + 1});
}


}  // namespace atrium::http
