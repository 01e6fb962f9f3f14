// /api/v1/me/secrets and /api/v1/projects/{id}/secrets: names and metadata are listed, a value is
// written (PUT) and never read back, shown, logged or audited.
#include "audit/audit.hpp"
#include "core/text.hpp"
#include "http/api.hpp"
#include "projects/projects.hpp"
#include "projects/routes.hpp"
#include "secrets/secrets.hpp"
#include "secrets/store.hpp"

namespace atrium::secrets {
namespace {

using http::Access;
using http::Context;
using http::Response;
using nlohmann::json;

// Whose secrets a route acts on: the caller's own, or a project's (authorized for `perm`).
struct Owner {
  std::string scope, owner_id, org_id;
  std::optional<projects::Project> project;
};

Result<Owner> owner_of(Context& ctx, const http::Permission& perm) {
  if (ctx.route.pattern.starts_with("/api/v1/me/")) {
    TRY_STATUS(ctx.authorize(perm, http::Target{.owner_id = ctx.who().user_id}));
    return Owner{"user", ctx.who().user_id, "", std::nullopt};
  }
  auto p = TRY(projects::load_in_route(ctx, ctx.t(), perm));
  return Owner{"project", p.id, p.org_id, p};
}

Result<std::string> name_param(Context& ctx) {
  const std::string& name = ctx.param("name");
  TRY_STATUS(check_name(name));
  return name;
}

Result<store::Row> existing(Context& ctx, const Owner& o, const std::string& name) {
  auto row = TRY(store::find(ctx.t(), o.scope, o.owner_id, name));
  if (!row) return not_found("secret " + name);
  return std::move(*row);
}

audit::Event event_of(const Owner& o, const std::string& action, const std::string& name) {
  json summary = {{"name", name}, {"scope", o.scope}};
  if (o.project) summary["project_id"] = o.owner_id;
  return {o.org_id, action, "secret", o.scope + ":" + o.owner_id + "/" + name, std::move(summary)};
}

Result<Response> list_secrets(Context& ctx) {
  auto o = TRY(owner_of(ctx, {"secrets", "read"}));
  auto page = TRY(ctx.page());
  json items = json::array();
  for (auto& r : TRY(store::list(ctx.t(), o.scope, o.owner_id, page.after, page.limit))) items.push_back(r.json());
  return http::paged(std::move(items), page.limit, "name");
}

Result<Response> show_secret(Context& ctx) {
  auto o = TRY(owner_of(ctx, {"secrets", "read"}));
  auto j = TRY(existing(ctx, o, TRY(name_param(ctx)))).json();
  return http::with_etag(Response::json(200, j), j);
}

// The value: text, 1 byte to kMaxValueBytes, no NUL. The errors never quote it.
Result<std::string> value_of(const http::JsonBody& b) {
  auto bad = [](ErrorCode code, const std::string& why) {
    return fail(Error(code, "invalid-secret-value", "value " + why).with("field", "value"));
  };
  if (!b.has("value") || !b.raw()["value"].is_string()) return bad(ErrorCode::kInvalidArgument, "must be a string");
  const auto& v = b.raw()["value"].get_ref<const std::string&>();
  if (v.size() > kMaxValueBytes)
    return bad(ErrorCode::kPayloadTooLarge, "is longer than " + std::to_string(kMaxValueBytes) + " bytes");
  if (v.empty() || v.find('\0') != std::string::npos)
    return bad(ErrorCode::kInvalidArgument, "must be non-empty text without NUL (base64 binary values)");
  return v;
}

Result<Response> put_secret(const Settings& s, Context& ctx) {
  auto o = TRY(owner_of(ctx, {"secrets", "write"}));
  if (o.project) TRY_STATUS(projects::check_writable(*o.project));
  auto name = TRY(name_param(ctx));
  auto b = TRY(ctx.json());
  TRY_STATUS(b.only({"value", "description"}));
  auto value = TRY(value_of(b));
  auto description = TRY(b.opt_str("description", kMaxDescription));
  if (description) TRY_STATUS(check_display_text("description", *description, kMaxDescription, true));
  auto cur = TRY(store::find(ctx.t(), o.scope, o.owner_id, name));
  store::Row row = cur ? *cur : store::Row{};
  row.scope = o.scope;
  row.owner_id = o.owner_id;
  row.org_id = o.org_id;
  row.name = name;
  row.sealed = seal(s.key, o.scope, o.owner_id, name, value);
  if (description) row.description = *description;
  row.updated = ctx.now();
  row.updated_by = ctx.who().user_id;
  if (cur) {
    TRY_STATUS(ctx.check_if_match(http::etag_of(cur->version)));
    TRY_STATUS(store::update(ctx.t(), row, cur->version));
    row.version = cur->version + 1;
  } else {
    if (ctx.req.header("if-match"))
      return fail(ErrorCode::kPreconditionFailed, "precondition-failed", "no secret " + name + " to match");
    if (TRY(store::count(ctx.t(), o.scope, o.owner_id)) >= static_cast<std::int64_t>(kMaxPerOwner))
      return fail(Error(ErrorCode::kFailedPrecondition, "too-many-secrets",
                        "at most " + std::to_string(kMaxPerOwner) + " secrets each; remove one first"));
    row.created = row.updated;
    row.created_by = row.updated_by;
    row.version = 1;
    TRY_STATUS(store::insert(ctx.t(), row));
  }
  TRY_STATUS(audit::record(ctx.t(), ctx.actor(), event_of(o, cur ? "secret.update" : "secret.create", name), ctx.now()));
  auto j = row.json();
  auto r = http::with_etag(Response::json(cur ? 200 : 201, j), j);
  if (!cur) r.header("Location", ctx.req.path);
  return r;
}

Result<Response> delete_secret(Context& ctx) {
  auto o = TRY(owner_of(ctx, {"secrets", "write"}));
  if (o.project) TRY_STATUS(projects::check_writable(*o.project));
  auto name = TRY(name_param(ctx));
  auto cur = TRY(existing(ctx, o, name));
  TRY_STATUS(ctx.check_if_match(http::etag_of(cur.version)));
  TRY_STATUS(store::remove(ctx.t(), o.scope, o.owner_id, name));
  TRY_STATUS(audit::record(ctx.t(), ctx.actor(), event_of(o, "secret.delete", name), ctx.now()));
  return Response::no_content();
}

}  // namespace

void add_routes(http::Api& api, const Settings& s) {
  const json kObj = http::object_schema(), kList = http::list_schema();
  const json put_schema = {
      {"type", "object"},
      {"required", {"value"}},
      {"properties",
       {{"value",
         {{"type", "string"},
          {"maxLength", kMaxValueBytes},
          {"description", "the secret's text (never shown again; binary values base64-encoded)"}}},
        {"description", {{"type", "string"}, {"maxLength", kMaxDescription}}}}}};
  const std::vector<std::string> kPaged = {"limit", "after"};
  for (const char* base : {"/api/v1/me/secrets", "/api/v1/projects/{id}/secrets"}) {
    const std::string whose = std::string(base).starts_with("/api/v1/me/") ? "my" : "a project's";
    const std::string one = std::string(base) + "/{name}";
    api.add({"GET", base, Access::require("secrets", "read"),
             {"List " + whose + " secrets: names, descriptions, who set them and when; never a value", "secrets",
              nullptr, kList, 200, kPaged},
             list_secrets});
    api.add({"GET", one, Access::require("secrets", "read"),
             {"One of " + whose + " secrets: its metadata and ETag; never its value", "secrets", nullptr, kObj},
             show_secret});
    api.add({"PUT", one, Access::require("secrets", "write"),
             {"Set one of " + whose + " secrets (201 new; replacing one needs If-Match); the answer never holds "
              "the value",
              "secrets", put_schema, kObj},
             [s](Context& ctx) { return put_secret(s, ctx); }});
    api.add({"DELETE", one, Access::require("secrets", "write"),
             {"Remove one of " + whose + " secrets (If-Match)", "secrets", nullptr, nullptr, 204}, delete_secret});
  }
}

}  // namespace atrium::secrets
