#include "mail/routes.hpp"

#include "audit/audit.hpp"
#include "http/etag.hpp"
#include "mail/mail.hpp"
#include "mail/store.hpp"
#include "mail/templates.hpp"

namespace atrium::mail {
namespace {

using http::Access;
using http::Context;
using http::Response;
using nlohmann::json;

json to_json(const Preferences& p) {
  json kinds = json::object();
  for (auto& [k, on] : p.email) kinds[k] = {{"email", on}};
  return {{"locale", p.locale.empty() ? json(nullptr) : json(p.locale)},
          {"locales", locales()},
          {"mail_enabled", enabled()},
          {"kinds", kinds},
          {"etag", http::etag_of(p.version)}};
}

Error bad(const std::string& field, std::string detail) {
  return Error(ErrorCode::kInvalidArgument, "invalid-field", std::move(detail)).with("field", field);
}

Result<Response> show(Context& ctx) {
  TRY_STATUS(ctx.authorize(http::Target{.owner_id = ctx.who().user_id}));
  auto j = to_json(TRY(preferences(ctx.t(), ctx.who().user_id)));
  return http::with_etag(Response::json(200, j), j);
}

// The body, checked whole before anything changes: {"locale": "de"|null, "kinds": {"job_end": {"email": false}}}.
Status apply(const http::JsonBody& b, Preferences& p) {
  TRY_STATUS(b.only({"locale", "kinds"}));
  const json& raw = b.raw();
  if (raw.contains("locale")) {
    const json& l = raw["locale"];
    if (l.is_null()) p.locale.clear();
    else if (!l.is_string() || !has_locale(l.get<std::string>()))
      return fail(bad("locale", "locale must be null or one of the available locales"));
    else p.locale = l.get<std::string>();
  }
  if (!raw.contains("kinds")) return {};
  const json& kinds = raw["kinds"];
  if (!kinds.is_object()) return fail(bad("kinds", "kinds must be an object"));
  for (auto& [kind, v] : kinds.items()) {
    if (!p.email.contains(kind)) return fail(bad("kinds", "no notification kind '" + kind.substr(0, 64) + "'"));
    if (!v.is_object() || !v.contains("email") || !v["email"].is_boolean() || v.size() != 1)
      return fail(bad("kinds", "kinds." + kind + " must be {\"email\": true|false}"));
    p.email[kind] = v["email"].get<bool>();
  }
  return {};
}

Result<Response> update(Context& ctx) {
  const std::string& me = ctx.who().user_id;
  TRY_STATUS(ctx.authorize(http::Target{.owner_id = me}));
  auto body = TRY(ctx.json());
  auto p = TRY(preferences(ctx.t(), me));
  Preferences before = p;
  TRY_STATUS(apply(body, p));
  TRY_STATUS(ctx.check_if_match(http::etag_of(p.version)));
  auto after = TRY(put_preferences(ctx.t(), me, p, ctx.now()));
  json changed = json::object();
  if (before.locale != after.locale) changed["locale"] = after.locale.empty() ? json(nullptr) : json(after.locale);
  for (auto& [k, on] : after.email)
    if (before.email[k] != on) changed[k] = on;
  TRY_STATUS(audit::record(ctx.t(), ctx.actor(), {"", "user.notifications", "user", me, {{"changed", changed}}},
                           ctx.now()));
  auto j = to_json(after);
  return http::with_etag(Response::json(200, j), j);
}

}  // namespace

void add_routes(http::Api& api) {
  json kinds_schema = {{"type", "object"},
                       {"additionalProperties",
                        {{"type", "object"}, {"properties", {{"email", {{"type", "boolean"}}}}}}}};
  api.add({"GET", "/api/v1/me/notifications", Access::require("users", "read"),
           {"My notification preferences (mail per kind, all on by default) and mail locale", "users", nullptr,
            http::object_schema()},
           show});
  api.add({"PUT", "/api/v1/me/notifications", Access::require("users", "write"),
           {"Change my notification preferences and mail locale (If-Match; kinds not named keep their value)",
            "users",
            {{"type", "object"},
             {"properties", {{"locale", {{"type", {"string", "null"}}}}, {"kinds", kinds_schema}}}},
            http::object_schema()},
           update});
}

}  // namespace atrium::mail
