// The rules' pure parts: checking one, the state machine, the JSON shape, the signature.
#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "alerts/alerts.hpp"
#include "core/crypto.hpp"
#include "core/text.hpp"
#include "http/etag.hpp"
#include "mail/message.hpp"

namespace atrium::alerts {
namespace {

std::unexpected<Error> bad(std::string field, std::string type, std::string detail) {
  return fail(Error(ErrorCode::kInvalidArgument, std::move(type), std::move(detail)).with("field", std::move(field)));
}

// "scheme://host:port" in lower case, the port made explicit; "" when `url` is not http(s).
std::string origin_of(std::string_view url) {
  std::string u = to_lower(url);
  std::string scheme;
  if (u.starts_with("http://")) scheme = "http";
  else if (u.starts_with("https://")) scheme = "https";
  else return "";
  std::string rest = u.substr(scheme.size() + 3);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  if (auto at = rest.rfind('@'); at != std::string::npos) rest = rest.substr(at + 1);
  bool has_port = false;
  if (auto colon = rest.rfind(':'); colon != std::string::npos && rest.find(']', colon) == std::string::npos)
    has_port = true;
  if (!has_port) rest += scheme == "http" ? ":80" : ":443";
  return scheme + "://" + rest;
}

// "host:port" of an origin, the host without a trailing dot (a fully qualified name, the same host).
std::string host_port(const std::string& origin) {
  std::string hp = origin.substr(origin.find("://") + 3);
  auto colon = hp.rfind(':');
  std::string host = hp.substr(0, colon);
  while (host.size() > 1 && host.back() == '.') host.pop_back();
  return host + hp.substr(colon);
}

// Whether a host names this machine whatever its spelling: localhost, 127/8 in any form the
// resolver takes (127.1, 2130706433, 0x7f.0.0.1), 0.0.0.0, [::1], [::], [::ffff:127.0.0.1].
bool is_loopback(std::string host) {
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    in6_addr a{};
    if (inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), &a) != 1) return false;
    if (IN6_IS_ADDR_LOOPBACK(&a) || IN6_IS_ADDR_UNSPECIFIED(&a)) return true;
    const auto* v4 = a.s6_addr + 12;
    return IN6_IS_ADDR_V4MAPPED(&a) && (v4[0] == 127 || (v4[0] | v4[1] | v4[2] | v4[3]) == 0);
  }
  if (host == "localhost" || host.ends_with(".localhost")) return true;
  in_addr a{};
  if (inet_aton(host.c_str(), &a) == 0) return false;
  std::uint32_t v = ntohl(a.s_addr);
  return (v >> 24) == 127 || v == 0;
}

// Whether `url_origin` reaches the server at `own_origin`: the same host and port (whatever the
// scheme), or both on this machine's loopback at the same port.
bool same_server(const std::string& url_origin, const std::string& own_origin) {
  std::string a = host_port(url_origin), b = host_port(own_origin);
  if (a == b) return true;
  auto ca = a.rfind(':'), cb = b.rfind(':');
  return a.substr(ca) == b.substr(cb) && is_loopback(a.substr(0, ca)) && is_loopback(b.substr(0, cb));
}

Status check_webhook_url(const std::string& url, const std::string& own_origin) {
  if (url.empty()) return {};
  if (url.size() > 2000) return bad("webhook_url", "invalid-webhook-url", "webhook_url has at most 2000 characters");
  if (std::any_of(url.begin(), url.end(), [](unsigned char c) { return c <= 0x20 || c == 0x7f; }))
    return bad("webhook_url", "invalid-webhook-url", "webhook_url must not hold spaces or control characters");
  std::string origin = origin_of(url);
  if (origin.empty())
    return bad("webhook_url", "invalid-webhook-url", "webhook_url must be an http:// or https:// URL");
  std::string host = origin.substr(origin.find("://") + 3);
  if (host.substr(0, host.rfind(':')).empty())
    return bad("webhook_url", "invalid-webhook-url", "webhook_url names no host");
  if (std::string own = own_origin.empty() ? "" : origin_of(own_origin); !own.empty() && same_server(origin, own))
    return bad("webhook_url", "invalid-webhook-url", "webhook_url must not point at this server itself");
  return {};
}

}  // namespace

nlohmann::json Rule::json() const {
  return {{"id", id},
          {"name", name},
          {"figure", figure},
          {"op", op},
          {"threshold", threshold},
          {"for_s", for_s},
          {"severity", severity},
          {"enabled", enabled},
          {"emails", emails},
          {"webhook_url", webhook_url},
          {"webhook_secret_set", has_webhook_secret},
          {"created_at", format_rfc3339(created)},
          {"created_by", created_by},
          {"updated_at", format_rfc3339(updated)},
          {"updated_by", updated_by},
          {"version", version},
          {"etag", http::etag_of(version)}};
}

Status check_rule(const Rule& r, const std::vector<std::string>& figures, const std::string& own_origin) {
  if (auto st = check_display_text("name", r.name, 100, false); !st)
    return bad("name", "invalid-name", st.error().detail);
  if (std::find(figures.begin(), figures.end(), r.figure) == figures.end())
    return bad("figure", "unknown-figure", "figure '" + r.figure + "' is not one of the health figures");
  if (r.op != "<" && r.op != ">") return bad("op", "invalid-op", "op must be \"<\" or \">\"");
  if (!std::isfinite(r.threshold)) return bad("threshold", "invalid-threshold", "threshold must be a finite number");
  if (r.for_s < 0 || r.for_s > kMaxForSeconds)
    return bad("for_s", "invalid-for", "for_s must be 0 to " + std::to_string(kMaxForSeconds) + " seconds");
  if (r.severity != "info" && r.severity != "warning" && r.severity != "critical")
    return bad("severity", "invalid-severity", "severity must be info, warning or critical");
  if (r.emails.size() > kMaxEmails)
    return bad("emails", "invalid-emails", "at most " + std::to_string(kMaxEmails) + " addresses");
  for (const auto& e : r.emails)
    if (auto st = mail::check_address(e); !st)
      return bad("emails", "invalid-emails", "'" + e + "': " + st.error().detail);
  return check_webhook_url(r.webhook_url, own_origin);
}

Step step(const Rule& r, const RuleState& cur, const obs::Sample& s) {
  Step out{cur, "", false};
  auto move_to = [&](std::string state, Millis since, std::optional<double> v, std::string event) {
    out.next = RuleState{std::move(state), since, v};
    out.event = std::move(event);
    out.changed = true;
  };
  if (!r.enabled) {
    if (cur.state != "ok") move_to("ok", s.at, cur.value, cur.state == "firing" ? "resolved" : "");
    return out;
  }
  auto it = s.values.find(r.figure);
  if (it == s.values.end()) return out;  // unknown this time: nothing changes
  double v = it->second;
  bool holds = r.holds(v);
  if (cur.state == "firing") {
    if (!holds) move_to("ok", s.at, v, "resolved");
    return out;
  }
  if (!holds) {
    if (cur.state == "pending") move_to("ok", s.at, v, "");
    return out;
  }
  Millis since = cur.state == "pending" ? cur.since : s.at;
  if (s.at - since >= r.for_s * 1000) move_to("firing", since, v, "firing");
  else if (cur.state != "pending") move_to("pending", since, v, "");
  return out;
}

std::string signature(const std::string& secret, const std::string& body) {
  return "sha256=" + crypto::hex(crypto::hmac_sha256(secret, body));
}

}  // namespace atrium::alerts
