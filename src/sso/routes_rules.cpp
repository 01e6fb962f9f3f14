// GET/PUT /api/v1/orgs/{org}/sso-rules: an org's mapping rules, edited by its admins.
#include "http/etag.hpp"
#include "identity/orgs.hpp"
#include "identity/routes.hpp"
#include "sso/routes.hpp"
#include "sso/rules.hpp"
#include "sso/store.hpp"

namespace atrium::sso {
namespace {

using http::Access;
using http::Context;
using http::Response;
using http::Target;
using nlohmann::json;

const http::Permission kEdit{"orgs", "write"};

Result<identity::Org> org_of(Context& ctx) {
  auto org = identity::get_org(ctx.t(), ctx.param("org"));
  if (!org) {
    ctx.filtered();
    return std::unexpected(org.error());
  }
  TRY_STATUS(ctx.authorize(kEdit, Target{.org_id = org->id}));
  return *org;
}

// The rules of the providers' config sections that name this org (read-only here).
json config_rules_of(const RouteDeps& deps, const identity::Org& org) {
  json out = json::array();
  for (auto& [name, p] : deps.providers)
    for (auto& r : p->link_policy().rules)
      if (r.org == org.slug || r.org == org.id) {
        auto j = rules_to_json({r})[0];
        j["provider"] = name;
        out.push_back(j);
      }
  return out;
}

Result<Response> answer(const RouteDeps& deps, Context& ctx, const identity::Org& org) {
  auto stored = TRY(store::org_rules(ctx.t(), org.id));
  auto rules = json::parse(stored.rules_json, nullptr, false);
  json j = {{"org_id", org.id},
            {"rules", rules.is_array() ? rules : json::array()},
            {"config_rules", config_rules_of(deps, org)},
            {"etag", http::etag_of(stored.version)}};
  return http::with_etag(Response::json(200, j), j);
}

// Each rule names a role and a group the org has, a provider configured here, and grants nothing
// the editor could not grant by hand.
Status check_rules(const RouteDeps& deps, Context& ctx, const identity::Org& org, const std::vector<Rule>& rules) {
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const Rule& r = rules[i];
    std::string at = "rules[" + std::to_string(i) + "]";
    auto bad = [&](const std::string& field, const std::string& why) {
      return fail(Error(ErrorCode::kInvalidArgument, "invalid-rule", at + "." + field + ": " + why)
                      .with("field", at + "." + field));
    };
    bool known = r.provider.empty() || deps.providers.contains(r.provider);
    for (auto& o : deps.others) known = known || o.name == r.provider;
    if (!known) return bad("provider", "no provider '" + r.provider + "' is configured");
    if (!r.role.empty()) {
      auto role = identity::resolve_role(ctx.t(), org.id, r.role);
      if (!role) return bad("role", "this organisation has no role '" + r.role + "'");
      TRY_STATUS(identity::may_grant_role(ctx, org.id, *role));
    }
    if (!r.group.empty()) {
      auto g = TRY(identity::find_group(ctx.t(), org.id, r.group));
      if (!g) return bad("group", "this organisation has no group '" + r.group + "'");
      TRY_STATUS(ctx.authorize({"groups", "write"}, Target{.org_id = org.id, .group_id = g->id}));
    }
  }
  return {};
}

Result<Response> rules_show(const RouteDeps& deps, Context& ctx) {
  auto org = TRY(org_of(ctx));
  return answer(deps, ctx, org);
}

Result<Response> rules_put(const RouteDeps& deps, Context& ctx) {
  auto org = TRY(org_of(ctx));
  auto body = TRY(ctx.json());
  TRY_STATUS(body.only({"rules"}));
  const json& raw = body.raw().contains("rules") ? body.raw()["rules"] : json();
  auto rules = TRY(rules_from_json(raw, org.id));
  TRY_STATUS(check_rules(deps, ctx, org, rules));
  auto stored = TRY(store::org_rules(ctx.t(), org.id));
  TRY_STATUS(ctx.check_if_match(http::etag_of(stored.version)));
  if (!TRY(store::put_org_rules(ctx.t(), org.id, rules_to_json(rules).dump(), stored.version, ctx.now())))
    return fail(ErrorCode::kPreconditionFailed, "precondition-failed", "the rules changed meanwhile; reload them");
  TRY_STATUS(audit::record(ctx.t(), ctx.actor(),
                           {org.id, "sso.rules.update", "org", org.id, {{"rules", rules_to_json(rules)}}}, ctx.now()));
  return answer(deps, ctx, org);
}

}  // namespace

void add_rules_routes(http::Api& api, const RouteDeps& deps) {
  json rule = {{"type", "object"},
               {"properties",
                {{"provider", {{"type", "string"}}},
                 {"email_domain", {{"type", "string"}}},
                 {"claim_group", {{"type", "string"}}},
                 {"role", {{"type", "string"}}},
                 {"group", {{"type", "string"}}}}}};
  api.add({"GET", "/api/v1/orgs/{org}/sso-rules", Access::require("orgs", "write"),
           {"The org's sign-in mapping rules (and the read-only ones from provider config)", "orgs", nullptr,
            http::object_schema()},
           [&deps](Context& ctx) { return rules_show(deps, ctx); }});
  api.add({"PUT", "/api/v1/orgs/{org}/sso-rules", Access::require("orgs", "write"),
           {"Replace the org's sign-in mapping rules (If-Match)",
            "orgs",
            {{"type", "object"},
             {"required", {"rules"}},
             {"properties", {{"rules", {{"type", "array"}, {"items", rule}}}}}},
            http::object_schema()},
           [&deps](Context& ctx) { return rules_put(deps, ctx); }});
}

}  // namespace atrium::sso
