// The proxy's decisions that need nothing but the request: the target's environment and path
// checks, the cookie filter (kept apart so that the fuzz harness builds without the services).
#include <charconv>

#include "core/crypto.hpp"
#include "core/ids.hpp"
#include "core/text.hpp"
#include "http/message.hpp"
#include "proxy/proxy.hpp"

namespace atrium::proxy {

namespace {

Error bad_path(const std::string& why) { return Error(ErrorCode::kInvalidArgument, "bad-env-path", why); }

// Segments forwarded as sent: none may mean anything else decoded.
Status check_segments(std::string_view segs) {
  while (true) {
    auto next = segs.find('/');
    auto seg = segs.substr(0, next);
    auto decoded = http::percent_decode(seg, false);
    if (!decoded) return fail(bad_path("bad percent-encoding in the path"));
    if (*decoded == "." || *decoded == "..") return fail(bad_path("the path must not hold . or .. segments"));
    if (decoded->find_first_of(std::string_view("/\\\0", 3)) != std::string::npos)
      return fail(bad_path("the path must not hold encoded separators (%2F, %5C) or NUL"));
    if (next == std::string_view::npos) return {};
    segs = segs.substr(next + 1);
  }
}

Status check_chars(std::string_view path) {
  for (unsigned char c : path)
    if (c < 0x21 || c == 0x7f || c == '\\')
      return fail(bad_path("the path holds a control character, a space or a backslash"));
  return {};
}

// "<base64url payload>.<base64url HMAC(key, purpose \n payload)>" -> the payload's fields.
std::string seal(std::string_view key, std::string_view purpose, const std::vector<std::string>& fields) {
  std::string payload;
  for (auto& f : fields) payload += (payload.empty() ? "" : "\n") + f;
  return crypto::base64url(payload) + "." +
         crypto::base64url(crypto::hmac_sha256(key, std::string(purpose) + "\n" + payload));
}

std::optional<std::vector<std::string>> unseal(std::string_view key, std::string_view purpose, std::string_view text,
                                               std::size_t n) {
  if (text.size() > 1000) return std::nullopt;
  auto dot = text.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  auto payload = crypto::base64url_decode(text.substr(0, dot));
  auto mac = crypto::base64url_decode(text.substr(dot + 1));
  if (!payload || !mac) return std::nullopt;
  if (!crypto::constant_time_equal(*mac, crypto::hmac_sha256(key, std::string(purpose) + "\n" + *payload)))
    return std::nullopt;
  std::vector<std::string> out;
  std::string_view rest = *payload;
  while (true) {
    auto nl = rest.find('\n');
    out.emplace_back(rest.substr(0, nl));
    if (nl == std::string_view::npos) break;
    rest = rest.substr(nl + 1);
  }
  if (out.size() != n) return std::nullopt;
  return out;
}

}  // namespace

std::string guest_cookie_name(const std::string& env_id) { return "atrium_guest_" + env_id; }

Result<EnvTarget> parse_target(std::string_view target) {
  if (!target.starts_with(kPrefix)) return fail(bad_path("not an environment path"));
  auto path = target.substr(0, target.find('?'));
  TRY_STATUS(check_chars(path));
  auto rest = path.substr(kPrefix.size());
  auto slash = rest.find('/');
  EnvTarget t;
  t.env_id = std::string(rest.substr(0, slash));
  if (!is_id(t.env_id, "env")) return fail(Error(ErrorCode::kNotFound, "not-found", "no such environment"));
  t.needs_slash = slash == std::string_view::npos;
  if (t.needs_slash) return t;
  TRY_STATUS(check_segments(rest.substr(slash + 1)));
  return t;
}

Status check_origin_target(std::string_view target) {
  if (!target.starts_with('/')) return fail(bad_path("the request target must be an absolute path"));
  auto path = target.substr(0, target.find('?'));
  TRY_STATUS(check_chars(path));
  return check_segments(path.substr(1));
}

bool safe_next(std::string_view next) { return atrium::safe_next(next); }

std::string seal_ticket(std::string_view key, const Ticket& t) {
  return seal(key, "atrium env ticket", {t.env_id, t.user_id, t.session_id, t.nonce, std::to_string(t.expires)});
}

Result<Ticket> open_ticket(std::string_view key, std::string_view text, Millis now) {
  auto bad = [] {
    return fail(Error(ErrorCode::kPermissionDenied, "bad-ticket",
                      "this sign-in ticket is not valid here, or has expired: open the environment from Atrium again"));
  };
  auto f = unseal(key, "atrium env ticket", text, 5);
  if (!f) return bad();
  Ticket t{(*f)[0], (*f)[1], (*f)[2], (*f)[3], 0};
  auto& e = (*f)[4];
  auto [p, ec] = std::from_chars(e.data(), e.data() + e.size(), t.expires);
  if (ec != std::errc() || p != e.data() + e.size() || t.expires < now) return bad();
  return t;
}

std::string seal_env_cookie(std::string_view key, const EnvCookie& c) {
  return seal(key, "atrium env cookie", {c.env_id, c.user_id, c.session_id});
}

std::optional<EnvCookie> open_env_cookie(std::string_view key, std::string_view text) {
  auto f = unseal(key, "atrium env cookie", text, 3);
  if (!f) return std::nullopt;
  return EnvCookie{(*f)[0], (*f)[1], (*f)[2]};
}

bool TicketLedger::use(const std::string& nonce, Millis expires, Millis now) {
  std::lock_guard lk(mu_);
  if (used_.size() > 1000)
    std::erase_if(used_, [now](const auto& kv) { return kv.second < now; });
  return used_.emplace(nonce, expires).second;
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
