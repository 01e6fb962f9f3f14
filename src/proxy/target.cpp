// The proxy's decisions that need nothing but the request: the target's environment and path
// checks, the cookie filter (kept apart so that the fuzz harness builds without the services).
#include "core/ids.hpp"
#include "core/text.hpp"
#include "http/message.hpp"
#include "proxy/proxy.hpp"

namespace atrium::proxy {

namespace {

Error bad_path(const std::string& why) { return Error(ErrorCode::kInvalidArgument, "bad-env-path", why); }

}  // namespace

std::string guest_cookie_name(const std::string& env_id) { return "atrium_guest_" + env_id; }

Result<EnvTarget> parse_target(std::string_view target) {
  if (!target.starts_with(kPrefix)) return fail(bad_path("not an environment path"));
  auto path = target.substr(0, target.find('?'));
  for (unsigned char c : path)
    if (c < 0x21 || c == 0x7f || c == '\\') return fail(bad_path("the path holds a control character, a space or a backslash"));
  auto rest = path.substr(kPrefix.size());
  auto slash = rest.find('/');
  EnvTarget t;
  t.env_id = std::string(rest.substr(0, slash));
  if (!is_id(t.env_id, "env")) return fail(Error(ErrorCode::kNotFound, "not-found", "no such environment"));
  t.needs_slash = slash == std::string_view::npos;
  if (t.needs_slash) return t;
  // Every segment after the id: forwarded as sent, so it must not mean anything else decoded.
  auto segs = rest.substr(slash + 1);
  while (true) {
    auto next = segs.find('/');
    auto seg = segs.substr(0, next);
    auto decoded = http::percent_decode(seg, false);
    if (!decoded) return fail(bad_path("bad percent-encoding in the path"));
    if (*decoded == "." || *decoded == "..") return fail(bad_path("the path must not hold . or .. segments"));
    if (decoded->find_first_of(std::string_view("/\\\0", 3)) != std::string::npos)
      return fail(bad_path("the path must not hold encoded separators (%2F, %5C) or NUL"));
    if (next == std::string_view::npos) break;
    segs = segs.substr(next + 1);
  }
  return t;
}

std::string strip_atrium_cookies(std::string_view header) {
  std::string out;
  while (!header.empty()) {
    auto semi = header.find(';');
    auto part = header.substr(0, semi);
    header = semi == std::string_view::npos ? std::string_view() : header.substr(semi + 1);
    while (!part.empty() && (part.front() == ' ' || part.front() == '\t')) part.remove_prefix(1);
    while (!part.empty() && (part.back() == ' ' || part.back() == '\t')) part.remove_suffix(1);
    if (part.empty()) continue;
    auto name = part.substr(0, part.find('='));
    if (to_lower(name).starts_with("atrium")) continue;
    if (!out.empty()) out += "; ";
    out += part;
  }
  return out;
}

}  // namespace atrium::proxy
