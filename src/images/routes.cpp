#include "images/routes.hpp"

#include "audit/audit.hpp"
#include "core/ids.hpp"
#include "images/routes_detail.hpp"
#include "images/store.hpp"
#include "projects/routes.hpp"
#include "tasks/tasks.hpp"

namespace atrium::images {
namespace detail {

Result<identity::Org> load_org(Context& ctx, db::Tx& tx, const http::Permission& perm) {
  auto org = TRY(identity::get_org(tx, ctx.param("org")));
  TRY_STATUS(ctx.authorize(perm, Target{.org_id = org.id}));
  return org;
}

Result<Image> load_image(Context& ctx, db::Tx& tx, const http::Permission& project_perm,
                         const http::Permission& org_perm) {
  auto im = TRY(store::get_image(tx, ctx.param("id")));
  if (!im) {
    ctx.filtered();
    return not_found("image");
  }
  if (im->project_id.empty()) {
    // Org-wide: visible to the org's members; the caller's org bindings decide.
    if (!ctx.allowed({"orgs", "read"}, Target{.org_id = im->org_id})) {
      ctx.filtered();
      return not_found("image");
    }
    TRY_STATUS(ctx.authorize(org_perm, Target{.org_id = im->org_id}));
    return *im;
  }
  auto p = TRY(projects::get_for(tx, im->project_id, ctx.who().user_id));
  if (!p) {
    ctx.filtered();
    return not_found("image");
  }
  TRY_STATUS(ctx.authorize(project_perm, projects::target_of(*p)));
  return *im;
}

Response image_created(const Image& im) {
  auto j = image_json(im);
  return http::with_etag(Response::json(im.state == "ready" ? 201 : 202, j), j)
      .header("Location", "/api/v1/images/" + im.id);
}

}  // namespace detail

namespace {
using namespace detail;

// {name, source, default}: checked before anything is asked of a registry.
Result<NewImage> pull_body(Context& ctx, bool allow_default) {
  auto b = TRY(ctx.json());
  if (allow_default) TRY_STATUS(b.only({"name", "source", "default"}));
  else TRY_STATUS(b.only({"name", "source"}));
  NewImage n;
  n.name = TRY(b.str("name", 64));
  if (!valid_image_name(n.name))
    return fail(Error(ErrorCode::kInvalidArgument, "invalid-field",
                      "name must be 1-64 of a-z 0-9 . _ - starting with a letter or digit")
                    .with("field", "name"));
  n.source = TRY(b.str("source", 1024));
  TRY(parse_reference(n.source));
  n.make_default = allow_default && TRY(b.opt_bool("default")).value_or(false);
  n.actor = ctx.actor();
  return n;
}

// The caller is authorized on the project (or org) first: a stranger's bad body answers 404 too.
Result<Response> project_pull(Service& svc, Context& ctx) {
  auto p = TRY(ctx.db().read([&](db::Tx& tx) { return projects::load_in_route(ctx, tx, {"files", "write"}); }));
  TRY_STATUS(projects::check_writable(p));
  auto n = TRY(pull_body(ctx, true));
  n.org_id = p.org_id, n.project_id = p.id, n.group_id = p.group_id;
  return image_created(TRY(svc.impl().start_pull(n)));
}

Result<Response> org_pull(Service& svc, Context& ctx) {
  auto org = TRY(ctx.db().read([&](db::Tx& tx) { return load_org(ctx, tx, {"orgs", "write"}); }));
  auto n = TRY(pull_body(ctx, false));
  n.org_id = org.id;
  return image_created(TRY(svc.impl().start_pull(n)));
}

Result<Response> project_list(Context& ctx) {
  auto p = TRY(projects::load_in_route(ctx, ctx.t(), {"projects", "read"}));
  auto page = TRY(ctx.page());
  auto def = TRY(store::get_default(ctx.t(), p.id));
  json items = json::array();
  for (auto& im : TRY(store::list_images(ctx.t(), p.org_id, p.id, true, page.after, page.limit))) {
    auto j = image_json(im);
    j["default"] = !def.image_id.empty() && def.image_id == im.id;
    items.push_back(std::move(j));
  }
  return http::paged(std::move(items), page.limit, "id");
}

Result<Response> org_list(Context& ctx) {
  auto org = TRY(load_org(ctx, ctx.t(), {"orgs", "read"}));
  auto page = TRY(ctx.page());
  json items = json::array();
  for (auto& im : TRY(store::list_images(ctx.t(), org.id, "", false, page.after, page.limit)))
    items.push_back(image_json(im));
  return http::paged(std::move(items), page.limit, "id");
}

Result<Response> image_show(Context& ctx) {
  auto im = TRY(load_image(ctx, ctx.t(), {"projects", "read"}, {"orgs", "read"}));
  auto j = image_json(im);
  return http::with_etag(Response::json(200, j), j);
}

Result<Response> image_delete(Context& ctx) {
  auto im = TRY(load_image(ctx, ctx.t(), {"files", "delete"}, {"orgs", "write"}));
  TRY_STATUS(ctx.check_if_match(http::etag_of(im.version)));
  if (!TRY(store::delete_image(ctx.t(), im.id, im.version)))
    return fail(ErrorCode::kAborted, "concurrent-change", "the image changed meanwhile; retry");
  TRY_STATUS(store::clear_defaults_of(ctx.t(), im.id));
  TRY_STATUS(audit::record(ctx.t(), ctx.actor(),
                           {im.org_id, "image.delete", "image", im.id,
                            {{"name", im.name}, {"digest", im.digest}, {"project_id", im.project_id}}},
                           ctx.now()));
  // Its root goes with the next collection unless another image names the digest or a job uses it.
  if (!im.digest.empty() && !TRY(store::digest_named(ctx.t(), im.digest)))
    TRY(tasks::enqueue(ctx.t(), {.kind = "images.gc", .key = "images.gc:" + im.id, .max_attempts = 3}, ctx.now()));
  return Response::no_content();
}

json default_json(const store::Default& d, const std::optional<Image>& im) {
  return {{"image", im ? image_json(*im) : json(nullptr)}, {"etag", http::etag_of(d.version)}};
}

Result<Response> default_show(Context& ctx) {
  auto p = TRY(projects::load_in_route(ctx, ctx.t(), {"projects", "read"}));
  auto d = TRY(store::get_default(ctx.t(), p.id));
  auto im = d.image_id.empty() ? std::nullopt : TRY(store::get_image(ctx.t(), d.image_id));
  auto j = default_json(d, im);
  return http::with_etag(Response::json(200, j), j);
}

Result<Response> default_put(Context& ctx) {
  auto p = TRY(projects::load_in_route(ctx, ctx.t(), {"projects", "write"}));
  auto b = TRY(ctx.json());
  TRY_STATUS(b.only({"image"}));
  if (!b.has("image"))
    return fail(Error(ErrorCode::kInvalidArgument, "invalid-field", "image (a name, name@digest or null) is required")
                    .with("field", "image"));
  auto text = TRY(b.opt_str("image", 200));
  auto d = TRY(store::get_default(ctx.t(), p.id));
  if (ctx.req.header("if-match")) TRY_STATUS(ctx.check_if_match(http::etag_of(d.version)));
  std::optional<Image> im;
  if (text) {
    std::string name = *text, digest;
    if (auto at = name.find('@'); at != std::string::npos) digest = name.substr(at + 1), name = name.substr(0, at);
    auto bad = [&](std::string why) { return fail(Error(ErrorCode::kInvalidArgument, "invalid-image", why).with("field", "image")); };
    if (!valid_image_name(name)) return bad("'" + name + "' is not an image name");
    im = TRY(store::find_by_name(ctx.t(), p.org_id, p.id, name));
    if (!im) im = TRY(store::find_by_name(ctx.t(), p.org_id, "", name));
    if (!im || im->state == "failed") return bad("this project has no usable image named '" + name + "'");
    if (!digest.empty() && digest != im->digest) return bad("image '" + name + "' is " + im->digest + ", not " + digest);
  }
  TRY_STATUS(store::set_default(ctx.t(), p.id, p.org_id, im ? im->id : "", ctx.now()));
  TRY_STATUS(audit::record(ctx.t(), ctx.actor(),
                           {p.org_id, "project.default_image", "project", p.id,
                            {{"image_id", im ? json(im->id) : json(nullptr)}}},
                           ctx.now()));
  auto j = default_json(TRY(store::get_default(ctx.t(), p.id)), im);
  return http::with_etag(Response::json(200, j), j);
}

json pull_schema(bool with_default) {
  json props = {{"name", {{"type", "string"}}}, {"source", {{"type", "string"}}}};
  if (with_default) props["default"] = {{"type", "boolean"}};
  return {{"type", "object"}, {"required", {"name", "source"}}, {"properties", props}};
}

}  // namespace

void add_routes(http::Api& api, Service& svc) {
  const json obj = http::object_schema(), list = http::list_schema();
  api.add({"POST", "/api/v1/projects/{id}/images", Access::require("files", "write"),
           {"Pull an image from an OCI registry into the project (docker://host/repo:tag or host/repo@sha256:…): "
            "201 when its digest is stored already, else 202 while an images.pull task copies and unpacks it",
            "images", pull_schema(true), obj, 202},
           std::bind_front(project_pull, std::ref(svc)), http::TxMode::kNone});
  api.add({"GET", "/api/v1/projects/{id}/images", Access::require("projects", "read"),
           {"The project's images and its organisation's org-wide ones", "images", nullptr, list, 200,
            {"limit", "cursor"}},
           project_list});
  api.add({"GET", "/api/v1/projects/{id}/images/default", Access::require("projects", "read"),
           {"The project's default image (what jobs and environments run on when they name none)", "images",
            nullptr, obj},
           default_show});
  api.add({"PUT", "/api/v1/projects/{id}/images/default", Access::require("projects", "write"),
           {"Set ({image: \"name\" | \"name@sha256:…\"}) or clear ({image: null}) the project's default image",
            "images", json{{"type", "object"}, {"required", {"image"}}, {"properties", {{"image", {{"type", {"string", "null"}}}}}}},
            obj},
           default_put});
  api.add({"POST", "/api/v1/orgs/{org}/images", Access::require("orgs", "write"),
           {"Pull an org-wide image (visible to every project of the organisation; org admins)", "images",
            pull_schema(false), obj, 202},
           std::bind_front(org_pull, std::ref(svc)), http::TxMode::kNone});
  api.add({"GET", "/api/v1/orgs/{org}/images", Access::require("orgs", "read"),
           {"The organisation's org-wide images", "images", nullptr, list, 200, {"limit", "cursor"}}, org_list});
  api.add({"GET", "/api/v1/images/{id}", Access::require("projects", "read"),
           {"One image: state, digest, size, the software it holds", "images", nullptr, obj}, image_show});
  api.add({"DELETE", "/api/v1/images/{id}", Access::require("files", "delete"),
           {"Remove an image (If-Match); its files go once no other image names its digest and no job uses it",
            "images", nullptr, nullptr, 204},
           image_delete});
  add_registry_routes(api, svc);
}

}  // namespace atrium::images
