#include "audit/routes.hpp"

#include "audit/audit.hpp"

namespace atrium::audit {
namespace {

using http::Context;
using http::Response;

// Builds the filter from the query and restricts it to what the caller may read.
Result<Filter> filter_from(Context& ctx, int max_limit) {
  Filter f;
  auto page = TRY(ctx.page(max_limit));
  f.limit = page.limit;
  if (!page.after.empty()) {
    try {
      f.after_seq = std::stoll(page.after);
    } catch (...) {
      return invalid("after is not a cursor this server returned");
    }
  }
  auto q = [&](std::string_view k) { return std::string(ctx.req.query_param(k).value_or("")); };
  f.actor = q("actor");
  f.action = q("action");
  f.target_id = q("target");
  std::string order = q("order");
  if (order != "" && order != "asc" && order != "desc")
    return fail(Error(ErrorCode::kInvalidArgument, "invalid-enum", "order must be asc or desc").with("field", "order"));
  f.newest_first = order == "desc";
  for (auto [key, slot] : {std::pair{"since", &f.since}, std::pair{"until", &f.until}}) {
    std::string v = q(key);
    if (v.empty()) continue;
    Millis t;
    if (!parse_rfc3339(v, t)) return invalid(std::string(key) + " must be an RFC 3339 time, e.g. 2026-11-25T00:00:00Z");
    *slot = t;
  }
  std::string org = q("org");
  const auto& who = ctx.who();
  if (who.is_instance_admin() && ctx.allowed({"audit", "read"}, http::Target{})) {
    ctx.filtered();
    if (!org.empty()) {
      f.restrict_orgs = true;
      f.org_ids = {org};
    }
    return f;
  }
  // Org admins (or custom roles with audit:read) see their orgs' events only.
  f.restrict_orgs = true;
  for (auto& b : who.bindings) {
    if (b.org_id.empty()) continue;
    if (!org.empty() && b.org_id != org) continue;
    if (ctx.allowed({"audit", "read"}, http::Target{.org_id = b.org_id})) f.org_ids.push_back(b.org_id);
  }
  if (f.org_ids.empty()) {
    if (!org.empty() && !who.is_member_of(org)) return not_found("organisation");
    ctx.filtered();
    return fail(Error(ErrorCode::kPermissionDenied, "forbidden",
                      "you do not have permission audit:read in " + (org.empty() ? std::string("any organisation") : org))
                    .with("permission", "audit:read"));
  }
  ctx.filtered();
  return f;
}

}  // namespace

void add_routes(http::Api& api) {
  const std::vector<std::string> filters = {"actor", "org",   "action", "target", "since",
                                            "until", "order", "limit",  "after"};
  const nlohmann::json& event_list = http::list_schema();

  api.add({"GET", "/api/v1/audit/events", http::Access::require("audit", "read"),
           {"List audit events (filters: actor (user id or username), org, action (prefix with *), target, since, until; "
            "order asc (default) or desc, newest first)", "audit",
            nullptr, event_list, 200, filters},
           [](Context& ctx) -> Result<Response> {
             auto f = TRY(filter_from(ctx, 1000));
             auto events = TRY(list(ctx.t(), f));
             return http::paged(nlohmann::json(std::move(events)), f.limit, "seq");
           }});

  api.add({"GET", "/api/v1/audit/export", http::Access::require("audit", "read"),
           {"Export audit events as JSON lines (same filters; all matching events)", "audit", nullptr, nullptr, 200,
            filters},
           [](Context& ctx) -> Result<Response> {
             auto f = TRY(filter_from(ctx, 1000));
             f.limit = 1000;
             std::string out;
             for (;;) {
               auto events = TRY(list(ctx.t(), f));
               for (auto& e : events) out += e.dump() + "\n";
               if (static_cast<int>(events.size()) < f.limit) break;
               f.after_seq = events.back()["seq"].get<std::int64_t>();
             }
             return Response::text(200, std::move(out), "application/x-ndjson");
           }});

  nlohmann::json verify_schema = {{"type", "object"}};
  verify_schema["properties"]["ok"] = {{"type", "boolean"}};
  verify_schema["properties"]["checked"] = {{"type", "integer"}};
  verify_schema["properties"]["scope"] = {{"type", "string"}, {"enum", {"instance", "org"}}};
  // The whole chain is the instance administrators' (audit:admin); an org's administrators
  // (audit:read in the org) verify the org's events and their links (?org=).
  api.add({"GET", "/api/v1/audit/verify", http::Access::require("audit", "read"),
           {"Verify the audit hash chain (instance administrators), or an org's events in it (?org=)", "audit",
            nullptr, verify_schema, 200, {"org"}},
           [](Context& ctx) -> Result<Response> {
             std::string org(ctx.req.query_param("org").value_or(""));
             VerifyResult v;
             if (org.empty()) {
               TRY_STATUS(ctx.authorize({"audit", "admin"}, http::Target{}));
               v = TRY(verify(ctx.t()));
             } else {
               // Not a member (and not an instance administrator): the org does not exist for them.
               if (!ctx.who().is_instance_admin() && !ctx.who().is_member_of(org)) return not_found("organisation");
               // A member without audit:read: 403, as for the events (the policy hides the target).
               if (!ctx.allowed({"audit", "read"}, http::Target{.org_id = org}))
                 return fail(Error(ErrorCode::kPermissionDenied, "forbidden", "you do not have permission audit:read in " + org)
                                 .with("permission", "audit:read"));
               TRY_STATUS(ctx.authorize(http::Target{.org_id = org}));
               v = TRY(verify_org(ctx.t(), org));
             }
             nlohmann::json j = {{"ok", v.ok}, {"checked", v.checked}, {"first_broken", nullptr},
                                 {"scope", org.empty() ? "instance" : "org"}};
             if (!v.ok) j["first_broken"] = {{"seq", *v.first_broken_seq}, {"reason", v.reason}};
             return Response::json(200, j);
           }});
}

}  // namespace atrium::audit
