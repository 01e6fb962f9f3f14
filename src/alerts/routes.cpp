// /api/v1/admin/alerts: the rules (CRUD with ETag/If-Match), what stands now, the history of
// events with each delivery's outcome, and a test delivery. Instance administrators only.
#include "alerts/alerts.hpp"
#include "alerts/store.hpp"
#include "audit/audit.hpp"
#include "core/crypto.hpp"
#include "core/ids.hpp"
#include "http/api.hpp"

namespace atrium::alerts {
namespace {

using http::Access;
using http::Context;
using http::Response;
using nlohmann::json;

Status admin_only(Context& ctx) { return ctx.authorize(http::Target{}); }

std::vector<std::string> figure_names(const Service& svc) {
  std::vector<std::string> out;
  for (auto& f : svc.figures()) out.push_back(f.name);
  return out;
}

std::unexpected<Error> bad(std::string field, std::string detail) {
  return fail(Error(ErrorCode::kInvalidArgument, "invalid-field", std::move(detail)).with("field", std::move(field)));
}

// The body's fields over `r` (all required on create). `rotate`: the caller asked for a new secret.
Result<Rule> rule_from(const http::JsonBody& b, Rule r, bool create, bool& rotate) {
  TRY_STATUS(b.only({"name", "figure", "op", "threshold", "for_s", "severity", "enabled", "emails", "webhook_url",
                     "rotate_secret"}));
  if (create || b.has("name")) r.name = TRY(b.str("name", 100));
  if (create || b.has("figure")) r.figure = TRY(b.str("figure", 100));
  if (create || b.has("op")) r.op = TRY(b.str("op", 8));
  if (create || b.has("threshold")) {
    if (!b.has("threshold") || !b.raw()["threshold"].is_number()) return bad("threshold", "threshold must be a number");
    r.threshold = b.raw()["threshold"].get<double>();
  }
  if (auto v = TRY(b.opt_integer("for_s", 0, kMaxForSeconds))) r.for_s = *v;
  if (auto v = TRY(b.opt_one_of("severity", {"info", "warning", "critical"}))) r.severity = *v;
  if (auto v = TRY(b.opt_bool("enabled"))) r.enabled = *v;
  if (auto v = TRY(b.opt_str_list("emails", kMaxEmails, 254))) r.emails = *v;
  if (auto v = TRY(b.opt_str("webhook_url", 2000))) r.webhook_url = *v;
  rotate = TRY(b.opt_bool("rotate_secret")).value_or(false);
  return r;
}

json audit_summary(const Rule& r) {
  // Never the webhook URL (some services put a bearer token in it) nor the secret.
  return {{"name", r.name},         {"figure", r.figure}, {"op", r.op},           {"threshold", r.threshold},
          {"for_s", r.for_s},       {"severity", r.severity}, {"enabled", r.enabled}, {"emails", r.emails},
          {"webhook", !r.webhook_url.empty()}};
}

Result<Rule> existing(Context& ctx) {
  const std::string& id = ctx.param("id");
  if (!is_id(id, "alr")) return not_found("alert rule");
  auto r = TRY(store::find_rule(ctx.t(), id));
  if (!r) return not_found("alert rule");
  return std::move(*r);
}

std::string own_origin(const Service& svc) { return svc.settings().public_url ? svc.settings().public_url() : ""; }

std::string new_secret() { return "whsec_" + crypto::base64url(crypto::random_bytes(32)); }

Result<Response> list_rules(Context& ctx) {
  TRY_STATUS(admin_only(ctx));
  auto page = TRY(ctx.page());
  json items = json::array();
  for (auto& r : TRY(store::list_rules(ctx.t(), page.after, page.limit))) items.push_back(r.json());
  return http::paged(std::move(items), page.limit, "id");
}

Result<Response> show_rule(Context& ctx) {
  TRY_STATUS(admin_only(ctx));
  auto j = TRY(existing(ctx)).json();
  return http::with_etag(Response::json(200, j), j);
}

Result<Response> create_rule(Service& svc, Context& ctx) {
  TRY_STATUS(admin_only(ctx));
  auto b = TRY(ctx.json());
  bool rotate = false;
  Rule r = TRY(rule_from(b, Rule{}, true, rotate));
  TRY_STATUS(check_rule(r, figure_names(svc), own_origin(svc)));
  if (TRY(store::count_rules(ctx.t())) >= static_cast<std::int64_t>(kMaxRules))
    return fail(ErrorCode::kFailedPrecondition, "too-many-rules",
                "at most " + std::to_string(kMaxRules) + " alert rules; remove one first");
  if (TRY(store::name_taken(ctx.t(), r.name, "")))
    return fail(Error(ErrorCode::kAlreadyExists, "name-taken", "an alert rule named '" + r.name + "' exists")
                    .with("field", "name"));
  r.id = new_id("alr", ctx.now());
  r.created = r.updated = ctx.now();
  r.created_by = r.updated_by = ctx.who().user_id;
  std::string secret = r.webhook_url.empty() ? "" : new_secret();
  r.has_webhook_secret = !secret.empty();
  TRY_STATUS(store::insert_rule(ctx.t(), r, secret.empty() ? "" : svc.seal_secret(r.id, secret)));
  TRY_STATUS(audit::record(ctx.t(), ctx.actor(), {"", "alert_rule.create", "alert_rule", r.id, audit_summary(r)},
                           ctx.now()));
  json j = r.json();
  if (!secret.empty()) j["webhook_secret"] = secret;  // shown once
  auto resp = http::with_etag(Response::json(201, j), j);
  resp.header("Location", "/api/v1/admin/alerts/rules/" + r.id);
  return resp;
}

Result<Response> update_rule(Service& svc, Context& ctx) {
  TRY_STATUS(admin_only(ctx));
  Rule cur = TRY(existing(ctx));
  TRY_STATUS(ctx.check_if_match(http::etag_of(cur.version)));
  auto b = TRY(ctx.json());
  bool rotate = false;
  Rule r = TRY(rule_from(b, cur, false, rotate));
  TRY_STATUS(check_rule(r, figure_names(svc), own_origin(svc)));
  if (TRY(store::name_taken(ctx.t(), r.name, r.id)))
    return fail(Error(ErrorCode::kAlreadyExists, "name-taken", "an alert rule named '" + r.name + "' exists")
                    .with("field", "name"));
  // A webhook gets a secret when it first appears or when asked; losing the URL drops it.
  std::string secret;
  std::optional<std::string> sealed;
  if (r.webhook_url.empty()) {
    sealed = "";
  } else if (rotate || !cur.has_webhook_secret) {
    secret = new_secret();
    sealed = svc.seal_secret(r.id, secret);
  }
  if (sealed) r.has_webhook_secret = !sealed->empty();
  r.updated = ctx.now();
  r.updated_by = ctx.who().user_id;
  TRY_STATUS(store::update_rule(ctx.t(), r, cur.version, sealed));
  r.version = cur.version + 1;
  json summary = audit_summary(r);
  summary["secret_rotated"] = !secret.empty();
  TRY_STATUS(audit::record(ctx.t(), ctx.actor(), {"", "alert_rule.update", "alert_rule", r.id, summary}, ctx.now()));
  json j = r.json();
  if (!secret.empty()) j["webhook_secret"] = secret;
  return http::with_etag(Response::json(200, j), j);
}

Result<Response> delete_rule(Context& ctx) {
  TRY_STATUS(admin_only(ctx));
  Rule cur = TRY(existing(ctx));
  TRY_STATUS(ctx.check_if_match(http::etag_of(cur.version)));
  TRY_STATUS(store::delete_rule(ctx.t(), cur.id));
  TRY_STATUS(audit::record(ctx.t(), ctx.actor(), {"", "alert_rule.delete", "alert_rule", cur.id, audit_summary(cur)},
                           ctx.now()));
  return Response::no_content();
}

// Events with their deliveries; a mail's outcome is its "mail.send" task's.
Result<json> events_json(db::Tx& tx, const std::vector<store::Event>& evs) {
  std::vector<std::string> ids;
  std::map<std::string, json> by_id;
  for (auto& e : evs) {
    ids.push_back(e.id);
    by_id[e.id] = json::array();
  }
  for (auto& d : TRY(store::deliveries(tx, ids))) {
    if (d.channel.starts_with("email:") && d.state == "queued" && !d.task_id.empty()) {
      if (auto t = TRY(tasks::get(tx, d.task_id))) {
        d.attempts = t->attempts;
        if (t->state == "succeeded") d.state = "delivered";
        if (t->state == "dead") d.state = "failed";
        d.last_error = t->last_error;
      }
    }
    by_id[d.event_id].push_back(d.json());
  }
  json out = json::array();
  for (auto& e : evs) {
    json j = e.json();
    j["deliveries"] = by_id[e.id];
    out.push_back(std::move(j));
  }
  return out;
}

Result<Response> list_events(Context& ctx) {
  TRY_STATUS(admin_only(ctx));
  auto page = TRY(ctx.page());
  store::EventFilter f{.before = page.after, .limit = page.limit};
  if (auto v = ctx.req.query_param("rule_id")) f.rule_id = std::string(*v);
  if (auto v = ctx.req.query_param("kind"); v && !v->empty()) {
    if (*v != "firing" && *v != "resolved" && *v != "test")
      return fail(Error(ErrorCode::kInvalidArgument, "invalid-kind", "kind must be firing, resolved or test")
                      .with("field", "kind"));
    f.kind = std::string(*v);
  }
  auto items = TRY(events_json(ctx.t(), TRY(store::list_events(ctx.t(), f))));
  return http::paged(std::move(items), page.limit, "id");
}

Result<Response> current(Service& svc, Context& ctx) {
  TRY_STATUS(admin_only(ctx));
  auto sample = svc.last_sample();
  auto states = TRY(store::states(ctx.t()));
  json items = json::array();
  for (auto& r : TRY(store::list_rules(ctx.t()))) {
    const RuleState& st = states[r.id];
    json j = {{"rule_id", r.id},       {"name", r.name},         {"figure", r.figure},
              {"op", r.op},            {"threshold", r.threshold}, {"for_s", r.for_s},
              {"severity", r.severity}, {"enabled", r.enabled},   {"state", st.state},
              {"since", st.since ? json(format_rfc3339(st.since)) : json(nullptr)}, {"value", nullptr}};
    if (sample)
      if (auto it = sample->values.find(r.figure); it != sample->values.end()) j["value"] = it->second;
    items.push_back(std::move(j));
  }
  return Response::json(200, {{"items", items},
                              {"sampled_at", sample ? json(format_rfc3339(sample->at)) : json(nullptr)}});
}

Result<Response> figures(Service& svc, Context& ctx) {
  TRY_STATUS(admin_only(ctx));
  json items = json::array();
  for (auto& f : svc.figures()) items.push_back({{"name", f.name}, {"unit", f.unit}, {"help", f.help}});
  return Response::json(200, {{"items", items}});
}

// A "test" event through the rule's channels now (the figure's latest value, whatever the state).
Result<Response> test_rule(Service& svc, Context& ctx) {
  TRY_STATUS(admin_only(ctx));
  Rule r = TRY(existing(ctx));
  if (r.emails.empty() && r.webhook_url.empty())
    return fail(ErrorCode::kFailedPrecondition, "no-channels", "the rule has no email address and no webhook");
  store::Event e{.id = new_id("alev", ctx.now()), .rule_id = r.id, .rule_name = r.name, .kind = "test",
                 .figure = r.figure, .op = r.op, .severity = r.severity, .threshold = r.threshold, .at = ctx.now()};
  if (auto s = svc.last_sample())
    if (auto it = s->values.find(r.figure); it != s->values.end()) e.value = it->second;
  TRY_STATUS(store::insert_event(ctx.t(), e));
  TRY_STATUS(svc.deliver(ctx.t(), r, e.json(), ctx.now()));
  TRY_STATUS(audit::record(ctx.t(), ctx.actor(),
                           {"", "alert_rule.test", "alert_rule", r.id, {{"name", r.name}, {"event_id", e.id}}},
                           ctx.now()));
  auto out = TRY(events_json(ctx.t(), {e}));
  return Response::json(201, out[0]);
}

json rule_schema(bool create) {
  json props = {{"name", {{"type", "string"}, {"maxLength", 100}}},
                {"figure", {{"type", "string"}, {"description", "a name from GET /api/v1/admin/alerts/figures"}}},
                {"op", {{"type", "string"}, {"enum", {"<", ">"}}}},
                {"threshold", {{"type", "number"}}},
                {"for_s", {{"type", "integer"}, {"minimum", 0}, {"maximum", kMaxForSeconds}}},
                {"severity", {{"type", "string"}, {"enum", {"info", "warning", "critical"}}}},
                {"enabled", {{"type", "boolean"}}},
                {"emails", {{"type", "array"}, {"items", {{"type", "string"}}}, {"maxItems", kMaxEmails}}},
                {"webhook_url", {{"type", "string"}, {"description", "http(s) URL; \"\" = none"}}},
                {"rotate_secret", {{"type", "boolean"}, {"description", "a new webhook secret (shown once)"}}}};
  json s = {{"type", "object"}, {"properties", props}};
  if (create) s["required"] = {"name", "figure", "op", "threshold"};
  return s;
}

}  // namespace

void add_routes(http::Api& api, Service& svc) {
  const json kObj = http::object_schema(), kList = http::list_schema();
  const std::string base = "/api/v1/admin/alerts";
  auto admin = [] { return Access::require("audit", "admin"); };
  const std::vector<std::string> kPaged = {"limit", "after"};
  const std::vector<std::string> kSecret = {"webhook_secret"};
  api.add({"GET", base + "/figures", admin(), {"The health figures a rule may watch", "alerts", nullptr, kObj},
           std::bind_front(figures, std::ref(svc))});
  api.add({"GET", base + "/rules", admin(), {"List the alert rules", "alerts", nullptr, kList, 200, kPaged},
           list_rules});
  api.add({"POST", base + "/rules", admin(),
           {"Create an alert rule; with a webhook_url, the answer holds its signing secret (shown once)", "alerts",
            rule_schema(true), kObj, 201, {}, false, kSecret},
           std::bind_front(create_rule, std::ref(svc))});
  api.add({"GET", base + "/rules/{id}", admin(), {"One alert rule and its ETag", "alerts", nullptr, kObj}, show_rule});
  api.add({"PATCH", base + "/rules/{id}", admin(),
           {"Change an alert rule (If-Match); a new or rotated webhook secret is in the answer, once", "alerts",
            rule_schema(false), kObj, 200, {}, false, kSecret},
           std::bind_front(update_rule, std::ref(svc))});
  api.add({"DELETE", base + "/rules/{id}", admin(), {"Remove an alert rule (If-Match)", "alerts", nullptr, nullptr, 204},
           delete_rule});
  api.add({"POST", base + "/rules/{id}/test", admin(),
           {"Send a test event through the rule's channels now", "alerts", nullptr, kObj, 201},
           std::bind_front(test_rule, std::ref(svc))});
  api.add({"GET", base + "/current", admin(),
           {"Every rule's state now (ok, pending, firing) and its figure's latest value", "alerts", nullptr, kObj},
           std::bind_front(current, std::ref(svc))});
  api.add({"GET", base + "/events", admin(),
           {"Alert events, newest first (firing, resolved, test), each with its deliveries", "alerts", nullptr, kList,
            200, {"limit", "after", "rule_id", "kind"}},
           list_events});
}

}  // namespace atrium::alerts
