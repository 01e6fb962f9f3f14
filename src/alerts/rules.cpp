// The rules' pure parts: checking one, the state machine, the JSON shape, the signature.
#include <algorithm>
#include <cmath>

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
  if (!own_origin.empty() && origin == origin_of(own_origin))
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
