// An org's registry credentials: host, username and a password sealed under the master key (with
// the row's id as associated data: a sealed password copied to another row does not open). The
// password is write-only: no answer, log or audit event holds it.
#include "audit/audit.hpp"
#include "core/crypto.hpp"
#include "core/ids.hpp"
#include "images/routes_detail.hpp"
#include "images/store.hpp"

namespace atrium::images::detail {
namespace {

Result<Response> registries_list(Context& ctx) {
  auto org = TRY(load_org(ctx, ctx.t(), {"orgs", "write"}));
  json items = json::array();
  for (auto& c : TRY(store::list_credentials(ctx.t(), org.id))) items.push_back(c.json());
  return Response::json(200, http::page_json(std::move(items), std::nullopt));
}

Result<Response> registry_add(const Service& svc, Context& ctx) {
  auto org = TRY(load_org(ctx, ctx.t(), {"orgs", "write"}));
  auto b = TRY(ctx.json());
  TRY_STATUS(b.only({"host", "username", "password"}));
  auto host = TRY(b.str("host", 255));
  // A registry host as references name it: no scheme, no path.
  auto ref = parse_reference(host + "/x/y:z");
  if (!ref || ref->host != host)
    return fail(Error(ErrorCode::kInvalidArgument, "invalid-field", "host is a registry host[:port], e.g. ghcr.io")
                    .with("field", "host"));
  auto username = TRY(b.str("username", 256));
  auto password = TRY(b.str("password", 4096));
  if (username.empty() || password.empty())
    return fail(Error(ErrorCode::kInvalidArgument, "invalid-field", "username and password must not be empty")
                    .with("field", username.empty() ? "username" : "password"));
  store::Credential c;
  c.id = new_id("reg", ctx.now());
  c.org_id = org.id, c.host = host, c.username = username, c.created_by = ctx.who().user_id, c.created_ms = ctx.now();
  c.password_sealed = crypto::base64(crypto::aead_seal(svc.impl().s.key, password, c.id));
  TRY_STATUS(store::insert_credential(ctx.t(), c));
  TRY_STATUS(audit::record(ctx.t(), ctx.actor(),
                           {org.id, "registry.add", "registry", c.id, {{"host", host}, {"username", username}}},
                           ctx.now()));
  auto j = c.json();
  return http::with_etag(Response::json(201, j), j)
      .header("Location", "/api/v1/orgs/" + org.id + "/registries/" + c.id);
}

Result<Response> registry_delete(Context& ctx) {
  auto org = TRY(load_org(ctx, ctx.t(), {"orgs", "write"}));
  auto c = TRY(store::get_credential(ctx.t(), ctx.param("rid")));
  if (!c || c->org_id != org.id) return not_found("registry credentials");
  TRY(store::delete_credential(ctx.t(), c->id));
  TRY_STATUS(audit::record(ctx.t(), ctx.actor(), {org.id, "registry.delete", "registry", c->id, {{"host", c->host}}},
                           ctx.now()));
  return Response::no_content();
}

}  // namespace

void add_registry_routes(http::Api& api, Service& svc) {
  api.add({"GET", "/api/v1/orgs/{org}/registries", Access::require("orgs", "write"),
           {"The organisation's registry credentials (host and username; never the password)", "images", nullptr,
            http::list_schema()},
           registries_list});
  api.add({"POST", "/api/v1/orgs/{org}/registries", Access::require("orgs", "write"),
           {"Add credentials for a registry host, used by the org's pulls from it (the password is write-only, "
            "stored encrypted)",
            "images",
            json{{"type", "object"},
                 {"required", {"host", "username", "password"}},
                 {"properties",
                  {{"host", {{"type", "string"}}}, {"username", {{"type", "string"}}}, {"password", {{"type", "string"}}}}}},
            http::object_schema(), 201},
           std::bind_front(registry_add, std::cref(svc))});
  api.add({"DELETE", "/api/v1/orgs/{org}/registries/{rid}", Access::require("orgs", "write"),
           {"Remove registry credentials", "images", nullptr, nullptr, 204}, registry_delete});
}

}  // namespace atrium::images::detail
