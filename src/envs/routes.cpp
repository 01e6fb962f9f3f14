#include "envs/routes.hpp"

#include <charconv>
#include <limits>
#include <functional>

#include "audit/audit.hpp"
#include "core/async.hpp"
#include "core/crypto.hpp"
#include "core/ids.hpp"
#include "data/paths.hpp"
#include "envs/streams.hpp"
#include "jobs/routes.hpp"
#include "projects/projects.hpp"
#include "projects/routes.hpp"
#include "secrets/secrets.hpp"

namespace atrium::envs {

namespace {

using http::Access;
using http::Context;
using http::Response;
using http::Target;
using nlohmann::json;

Result<Target> target_for(Context& ctx, const EnvRecord& e) {
  auto p = TRY(projects::get_for(ctx.t(), e.project_id, ctx.who().user_id));
  return Target{.org_id = e.org_id, .owner_id = e.user_id, .group_id = e.group_id, .project_role = p ? p->my_role : ""};
}

Result<EnvRecord> load(Context& ctx, const http::Permission& perm) {
  auto e = TRY(get_env(ctx.t(), ctx.param("id")));
  if (!e) {
    ctx.filtered();
    return not_found("environment");
  }
  TRY_STATUS(ctx.authorize(perm, TRY(target_for(ctx, *e))));
  return *e;
}

Result<App> load_app(Context& ctx, const std::string& name) {
  auto a = TRY(get_app(ctx.t(), name));
  if (!a) return not_found("app");
  return *a;
}

Response list_of(Service& svc, const std::vector<EnvRecord>& items, int limit) {
  json arr = json::array();
  for (auto& e : items) arr.push_back(svc.to_json(e));
  return http::paged(std::move(arr), limit, "id");
}

Result<Millis> seconds_param(const http::JsonBody& b, const char* key) {
  auto v = TRY(b.opt_integer(key, 60, 365LL * 86400));
  return v ? *v * 1000 : Millis{0};
}

// ---- the catalog

// Whether the caller may see an app: instance admins every one, others those enabled for one of
// their orgs.
bool sees_app(const Context& ctx, const App& a) {
  if (ctx.who().is_instance_admin()) return true;
  for (auto& b : ctx.who().bindings)
    if (!b.org_id.empty() && a.allowed_for(b.org_id)) return true;
  return false;
}

// An app as the caller may see it: for anyone but an instance admin, `orgs` and `per_org` name only
// the caller's own orgs (the others' ids and settings are theirs).
json catalog_json(const Context& ctx, const App& a) {
  json j = to_json(a);
  if (ctx.who().is_instance_admin()) return j;
  auto mine = [&](const std::string& org) { return !org.empty() && ctx.who().is_member_of(org); };
  if (j["orgs"].is_array()) {
    json orgs = json::array();
    for (auto& o : j["orgs"])
      if (mine(o.get<std::string>())) orgs.push_back(o);
    j["orgs"] = std::move(orgs);
  }
  json per_org = json::object();
  for (auto& [org, limits] : j["per_org"].items())
    if (mine(org)) per_org[org] = limits;
  j["per_org"] = std::move(per_org);
  return j;
}

Result<Response> list_catalog(Context& ctx) {
  ctx.filtered();
  json items = json::array();
  for (auto& a : TRY(list_apps(ctx.t())))
    if (sees_app(ctx, a)) items.push_back(catalog_json(ctx, a));
  return Response::json(200, http::page_json(items, std::nullopt));
}

Result<Response> show_app(Context& ctx) {
  ctx.filtered();
  auto a = TRY(load_app(ctx, ctx.param("name")));
  if (!sees_app(ctx, a)) return not_found("app");  // another org's app does not exist for the caller
  json j = catalog_json(ctx, a);
  return http::with_etag(Response::json(200, j), j);
}

Result<Response> put_app_route(Context& ctx) {
  TRY_STATUS(ctx.authorize(Target{}));
  auto b = TRY(ctx.json());
  const std::string& name = ctx.param("name");
  const App* builtin = nullptr;
  for (auto& x : builtin_apps())
    if (x.name == name) builtin = &x;
  auto cur = TRY(get_app(ctx.t(), name));
  // If-None-Match: * adds an app only if the name is free (the UI's "Add": never overwrites).
  if (cur && ctx.req.header("if-none-match").value_or("") == "*")
    return fail(Error(ErrorCode::kAlreadyExists, "app-exists", "an app named '" + name + "' is in the catalog already")
                    .with("field", "name"));
  if (cur && ctx.req.header("if-match")) TRY_STATUS(ctx.check_if_match(to_json(*cur)["etag"].get<std::string>()));
  auto a = TRY(app_from_json(name, b.raw(), builtin));
  a.version = cur ? cur->version : 0;
  TRY_STATUS(put_app(ctx.t(), ctx.actor(), a, ctx.now()));
  auto stored = TRY(load_app(ctx, name));
  return http::with_etag(Response::json(cur && cur->version ? 200 : 201, to_json(stored)), to_json(stored));
}

Result<Response> delete_app_route(Context& ctx) {
  TRY_STATUS(ctx.authorize(Target{}));
  auto cur = TRY(load_app(ctx, ctx.param("name")));
  if (cur.builtin && cur.version == 0) return Response::no_content();
  TRY_STATUS(delete_app(ctx.t(), ctx.actor(), cur.name, ctx.now()));
  return Response::no_content();
}

// ---- environments

// `gpus`, `datasets` (as jobs take them: files:read) and `files` (true, or {"prefix": dir}: the
// project's files read-write at /project, written back as the caller: files:write).
Status parse_data(Context& ctx, const http::JsonBody& b, const projects::Project& p, LaunchRequest& r) {
  if (auto g = TRY(b.opt_integer("gpus", 0, 64))) r.gpus = static_cast<int>(*g);
  TRY_STATUS(jobs::parse_datasets(ctx, b, p, r.datasets));
  if (!b.has("files")) return {};
  const json& f = b.raw()["files"];
  auto bad = [] {
    return fail(Error(ErrorCode::kInvalidArgument, "invalid-files", "files: must be true, false or {\"prefix\": DIR}")
                    .with("field", "files"));
  };
  if (f.is_boolean()) {
    if (f.get<bool>()) r.files_prefix = "";
  } else if (f.is_object() && f.size() == 1 && f.contains("prefix") && f["prefix"].is_string()) {
    auto prefix = f["prefix"].get<std::string>();
    if (prefix.size() > data::kMaxPathBytes) return bad();
    if (!prefix.empty()) {
      auto norm = data::normalize_path(prefix);
      if (!norm || *norm != prefix) return bad();
    }
    r.files_prefix = prefix;
  } else {
    return bad();
  }
  if (r.files_prefix) TRY_STATUS(ctx.authorize({"files", "write"}, projects::target_of(p)));
  return {};
}

Result<Response> launch_env(Service& svc, Context& ctx) {
  auto p = TRY(projects::load_in_route(ctx, ctx.t(), {"envs", "create"}));
  // The environment's workspace is the project's code: launching reads it.
  TRY_STATUS(ctx.authorize({"code", "read"}, projects::target_of(p)));
  TRY_STATUS(projects::check_writable(p));
  auto b = TRY(ctx.json());
  TRY_STATUS(b.only({"app", "cpus", "mem_mb", "time_limit_s", "ref", "image", "secrets", "gpus", "datasets", "files",
                     "partition"}));
  auto name = TRY(b.str("app", 40));
  auto app = TRY(get_app(ctx.t(), name));
  if (!app)
    return fail(Error(ErrorCode::kInvalidArgument, "unknown-app", "no app '" + name.substr(0, 40) + "' in the catalog")
                    .with("field", "app"));
  if (!app->allowed_for(p.org_id))
    return fail(Error(ErrorCode::kPermissionDenied, "app-not-enabled",
                      "the app '" + name + "' is not enabled for this organisation; an instance administrator "
                      "enables it in the app catalog")
                    .with("field", "app"));
  LaunchRequest r;
  if (auto c = TRY(b.opt_integer("cpus", 1, 4096))) r.cpus = static_cast<int>(*c);
  r.mem_mb = TRY(b.opt_integer("mem_mb", 16, std::int64_t{1} << 32));
  if (auto t = TRY(seconds_param(b, "time_limit_s")); t > 0) r.time_limit = t;
  r.ref = TRY(b.opt_str("ref", 255));
  if (r.ref && r.ref->empty()) r.ref.reset();
  r.partition = TRY(b.opt_str("partition", 64)).value_or("");
  r.image = TRY(svc.image_for(ctx.t(), p, *app, TRY(b.opt_str("image", 400))));
  if (b.has("secrets"))
    r.secrets = TRY(secrets::check_requests(ctx, p.id, projects::target_of(p),
                                            TRY(secrets::parse_requests(b.raw()["secrets"]))));
  TRY_STATUS(parse_data(ctx, b, p, r));
  auto e = TRY(svc.launch(ctx.t(), ctx.actor(), p.id, p.org_id, p.group_id, *app, r, ctx.now()));
  auto j = svc.to_json(e);
  return http::with_etag(Response::json(201, j), j).header("Location", "/api/v1/envs/" + e.id);
}

// GET ...?active=true&limit&after: the environments `f` selects.
Result<Response> list_page(Service& svc, Context& ctx, ListFilter f) {
  auto page = TRY(ctx.page());
  f.after = page.after;
  f.limit = page.limit;
  f.active_only = ctx.req.query_param("active").value_or("") == "true";
  return list_of(svc, TRY(list_envs(ctx.t(), f)), page.limit);
}

Result<Response> list_project_envs(Service& svc, Context& ctx) {
  auto p = TRY(projects::load_in_route(ctx, ctx.t(), {"envs", "read"}));
  return list_page(svc, ctx, {.project_id = p.id});
}

Result<Response> list_my_envs(Service& svc, Context& ctx) {
  ctx.filtered();
  return list_page(svc, ctx, {.user_id = ctx.who().user_id});
}

Result<Response> show_env(Service& svc, Context& ctx) {
  auto e = TRY(load(ctx, {"envs", "read"}));
  auto j = svc.to_json(e);
  return http::with_etag(Response::json(200, j), j);
}

Result<Response> stop_env(Service& svc, Context& ctx) {
  auto e = TRY(load(ctx, {"envs", "write"}));
  auto out = TRY(svc.request_stop(ctx.t(), ctx.actor(), e, "stopped by " + ctx.who().username, ctx.now()));
  return Response::json(200, svc.to_json(out));
}

// POST /envs/{id}/sync: outside a request transaction (it reads and stores the view's files);
// the environment is loaded and authorized in a read transaction of its own first.
Result<Response> sync_env(Service& svc, Context& ctx) {
  auto e = TRY(ctx.db().read([&](db::Tx& tx) -> Result<EnvRecord> {
    ctx.tx = &tx;
    auto loaded = load(ctx, {"envs", "write"});
    ctx.tx = nullptr;
    return loaded;
  }));
  auto rep = TRY(svc.sync_files(e, ctx.actor()));
  return Response::json(200, rep.json());
}

Response sse(std::shared_ptr<async::Stream> stream) {
  Response r;
  r.status = 200;
  r.content_type = "text/event-stream";
  r.headers.emplace_back("Cache-Control", "no-store");
  r.stream = std::move(stream);
  return r;
}

// A query parameter that must be a whole number in [lo, hi] (nullopt when absent).
Result<std::optional<std::int64_t>> int_param(Context& ctx, const char* key, std::int64_t lo, std::int64_t hi,
                                              const char* what) {
  auto a = ctx.req.query_param(key);
  if (!a) return std::optional<std::int64_t>();
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(a->data(), a->data() + a->size(), v);
  if (ec != std::errc() || p != a->data() + a->size() || v < lo || v > hi)
    return fail(Error(ErrorCode::kInvalidArgument, "invalid-query", what).with("field", key));
  return std::optional<std::int64_t>(v);
}

Result<Response> env_events_route(Service& svc, async::Runtime& rt, Context& ctx) {
  auto e = TRY(load(ctx, {"envs", "read"}));
  std::int64_t after =
      TRY(int_param(ctx, "after", 0, std::numeric_limits<std::int64_t>::max(), "after must be an event seq")).value_or(0);
  if (ctx.req.query_param("follow").value_or("") == "true" ||
      ctx.req.header("accept").value_or("").find("text/event-stream") != std::string_view::npos) {
    return sse(event_stream(rt, ctx.db(), svc, e.id, after));
  }
  return Response::json(200, http::page_json(TRY(env_events(ctx.t(), e.id, after)), std::nullopt));
}

// GET /envs/events[?project=<id>]: server-sent events, each an environment's JSON as it changes:
// the caller's own environments in every project, or every environment of a project they may read.
Result<Response> list_events_route(Service& svc, async::Runtime& rt, Context& ctx) {
  ListFilter f;
  if (auto id = ctx.req.query_param("project")) {
    auto p = TRY(projects::get_for(ctx.t(), std::string(id->substr(0, 64)), ctx.who().user_id));
    if (!p) {
      ctx.filtered();
      return fail(Error(ErrorCode::kNotFound, "not-found", "no such project").with("field", "project"));
    }
    TRY_STATUS(ctx.authorize({"envs", "read"}, projects::target_of(*p)));
    f.project_id = p->id;
  } else {
    ctx.filtered();
    f.user_id = ctx.who().user_id;
  }
  return sse(list_stream(rt, ctx.db(), svc, std::move(f)));
}

Result<Response> env_logs(Service& svc, Context& ctx) {
  auto e = TRY(load(ctx, {"envs", "write"}));
  auto stream = std::string(ctx.req.query_param("stream").value_or("stderr"));
  if (stream != "stderr" && stream != "stdout" && stream != "both")
    return fail(Error(ErrorCode::kInvalidArgument, "invalid-query", "stream must be stdout, stderr or both")
                    .with("field", "stream"));
  std::int64_t tail = TRY(int_param(ctx, "tail", 1, 10000, "tail must be 1..10000")).value_or(200);
  return Response::text(200, svc.log_tail(e, static_cast<int>(tail), stream));
}

// ---- guest links: one running environment, for a limited time, revocable; every open audited

Result<Response> create_link(Service& svc, Context& ctx) {
  auto e = TRY(load(ctx, {"envs", "write"}));
  if (e.user_id != ctx.who().user_id)
    return fail(ErrorCode::kPermissionDenied, "forbidden", "only the environment's owner may share it");
  if (!e.active()) return fail(ErrorCode::kFailedPrecondition, "env-not-running", "the environment is " + e.state_text());
  std::int64_t ttl = 3600;
  if (!ctx.req.body.empty()) {
    auto b = TRY(ctx.json());
    TRY_STATUS(b.only({"ttl_s"}));
    ttl = TRY(b.opt_integer("ttl_s", 60, 7 * 86400)).value_or(3600);
  }
  std::string secret = crypto::hex(crypto::random_bytes(24));
  LinkRecord l{new_id("lnk", ctx.now()), e.id, crypto::sha256_hex(secret), ctx.who().user_id, ctx.now(),
               ctx.now() + ttl * 1000};
  TRY_STATUS(insert_link(ctx.t(), l));
  TRY_STATUS(audit::record(ctx.t(), ctx.actor(),
                           {e.org_id, "env.link_create", "env", e.id, {{"link_id", l.id}, {"ttl_s", ttl}}}, ctx.now()));
  return Response::json(201, {{"id", l.id},
                              {"env_id", e.id},
                              {"secret", secret},
                              {"url", svc.url(e.id) + "?atrium_guest=" + secret},
                              {"expires_at", format_rfc3339(l.expires)}});
}

Result<Response> list_links_route(Context& ctx) {
  auto e = TRY(load(ctx, {"envs", "write"}));
  return Response::json(200, http::page_json(TRY(list_links(ctx.t(), e.id)), std::nullopt));
}

Result<Response> revoke_link_route(Service& svc, Context& ctx) {
  auto e = TRY(load(ctx, {"envs", "write"}));
  auto r = TRY(revoke_link(ctx.t(), e.id, ctx.param("link"), ctx.now()));
  if (r == Revoked::kUnknown) return not_found("link");
  if (r == Revoked::kNow) {
    TRY_STATUS(audit::record(ctx.t(), ctx.actor(),
                             {e.org_id, "env.link_revoke", "env", e.id, {{"link_id", ctx.param("link")}}}, ctx.now()));
    svc.access_changed(ctx.t());  // the proxy forgets the decisions it made with this link
  }
  return Response::no_content();
}

// PUT /apps/{name}'s body, as the OpenAPI document shows it (app_from_json checks it).
json app_schema() {
  const json limits = {{"type", "object"},
                      {"properties",
                       {{"cpus", {{"type", "integer"}, {"minimum", 1}}},
                        {"mem_mb", {{"type", "integer"}, {"minimum", 16}}},
                        {"time_limit_s", {{"type", "integer"}, {"minimum", 60}}}}}};
  const json secs = {{"type", "integer"}, {"minimum", 0}};
  return {
      {"type", "object"},
      {"properties",
       {{"kind", {{"type", "string"}, {"enum", {"web", "jupyter", "terminal"}}}},
        {"title", {{"type", "string"}}},
        {"command", {{"type", "array"}, {"items", {{"type", "string"}}}, {"description", "web: argv"}}},
        {"listen", {{"type", "string"}, {"enum", {"unix", "port"}}}},
        {"port", {{"type", "integer"}}},
        {"health_path", {{"type", "string"}}},
        {"defaults", limits},
        {"max", limits},
        {"max_gpus", {{"type", "integer"}, {"minimum", 0}, {"maximum", 64}}},
        {"idle_timeout_s", {{"type", "integer"}, {"minimum", 0}, {"description", "0: never culled for idleness"}}},
        {"max_uptime_s", {{"type", "integer"}, {"minimum", 0}, {"description", "0: no limit beyond the time limit"}}},
        {"spawn_timeout_s", {{"type", "integer"}, {"minimum", 1}}},
        {"network", {{"type", "string"}, {"enum", {"none", "outbound"}}}},
        {"rootfs", {{"type", "string"}}},
        {"image", {{"type", "string"}}},
        {"enabled", {{"type", "boolean"}}},
        {"orgs",
         {{"type", {"array", "null"}},
          {"items", {{"type", "string"}}},
          {"description", "org ids that may launch it; null: every org"}}},
        {"per_org",
         {{"type", "object"},
          {"additionalProperties",
           {{"type", "object"}, {"properties", {{"idle_timeout_s", secs}, {"max_uptime_s", secs}}}}},
          {"description", "an org's own timeouts, by org id"}}}}}};
}

}  // namespace

void add_routes(http::Api& api, Service& svc, async::Runtime& rt) {
  using std::bind_front;
  using std::ref;
  const json kObj = http::object_schema(), kList = http::list_schema();
  const json launch_schema = {
      {"type", "object"},
      {"required", {"app"}},
      {"properties",
       {{"app", {{"type", "string"}}},
        {"cpus", {{"type", "integer"}}},
        {"mem_mb", {{"type", "integer"}}},
        {"time_limit_s", {{"type", "integer"}}},
        {"ref", {{"type", "string"}, {"description", "branch, tag or commit the workspace is checked out at"}}},
        {"image",
         {{"type", "string"},
          {"description", "the image the environment runs on (mounted read-only as /): name, name@sha256:<hex> or "
                          "sha256:<hex>, pinned to its digest now; absent: the app's image, else (an app without a "
                          "rootfs) the project's default; \"none\": no image"}}},
        {"secrets",
         {{"type", "array"},
          {"items", {{"type", "string"}}},
          {"description", "secrets by name as for jobs: NAME (a variable) or NAME:file (/run/secrets/NAME)"}}},
        {"gpus", {{"type", "integer"}, {"minimum", 0}, {"description", "GPUs, within the app's max_gpus and the node's"}}},
        {"partition",
         {{"type", "string"},
          {"description", "where it runs: \"local\" or a SLURM partition (GET /api/v1/compute/partitions); default: "
                          "the org's default, else the server's"}}},
        {"datasets",
         {{"type", "array"},
          {"items", {{"type", "string"}}},
          {"description", "datasets of the project, read-only at /data/<name>: name (its latest version) or name@N"}}},
        {"files",
         {{"description", "true, or {\"prefix\": DIR}: the project's files (under DIR) read-write at /project, "
                          "synced back at stop, on POST /envs/{id}/sync and every envs.files_sync_s"}}}}}};
  const json link_schema = {{"type", "object"}, {"properties", {{"ttl_s", {{"type", "integer"}}}}}};
  const std::vector<std::string> kPaged = {"active", "limit", "after"};

  api.add({"GET", "/api/v1/apps", Access::signed_in(),
           {"The app catalog: the apps the caller may launch (administrators see every app)", "envs", nullptr, kList},
           list_catalog});
  api.add({"GET", "/api/v1/apps/{name}", Access::signed_in(), {"One app of the catalog", "envs", nullptr, kObj}, show_app});
  api.add({"PUT", "/api/v1/apps/{name}", Access::require("apps", "admin"),
           {"Add or change an app (instance administrators): kind web with a command, or tune a built-in; the "
            "body is the whole definition (a field left out: its default, a built-in's as shipped); If-Match: "
            "the app as read (412 when it changed meanwhile); If-None-Match: * adds only (409 app-exists when the "
            "name is taken)",
            "envs", app_schema(), kObj},
           put_app_route});
  api.add({"DELETE", "/api/v1/apps/{name}", Access::require("apps", "admin"),
           {"Remove an app (a built-in goes back to its shipped settings)", "envs", nullptr, nullptr, 204},
           delete_app_route});
  api.add({"POST", "/api/v1/projects/{id}/envs", Access::require("envs", "create"),
           {"Launch an environment (an app of the catalog) in a project: a long-running job through the scheduler",
            "envs", launch_schema, kObj, 201, {}, true},
           bind_front(launch_env, ref(svc))});
  api.add({"GET", "/api/v1/projects/{id}/envs", Access::require("envs", "read"),
           {"List a project's environments", "envs", nullptr, kList, 200, kPaged}, bind_front(list_project_envs, ref(svc))});
  api.add({"GET", "/api/v1/envs", Access::signed_in(),
           {"The caller's own environments, in every project", "envs", nullptr, kList, 200, kPaged},
           bind_front(list_my_envs, ref(svc))});
  api.add({"GET", "/api/v1/envs/events", Access::signed_in(),
           {"Server-sent events: each of the caller's environments (or, with project, the project's) as it changes "
            "(event env, data the environment); the active ones first",
            "envs", nullptr, nullptr, 200, {"project"}},
           bind_front(list_events_route, ref(svc), ref(rt))});
  api.add({"GET", "/api/v1/envs/{id}", Access::require("envs", "read"), {"One environment", "envs", nullptr, kObj},
           bind_front(show_env, ref(svc))});
  api.add({"POST", "/api/v1/envs/{id}/stop", Access::require("envs", "write"),
           {"Stop an environment: the app's own shutdown, then SIGTERM, then its cgroup is killed", "envs", nullptr, kObj},
           bind_front(stop_env, ref(svc))});
  api.add({"POST", "/api/v1/envs/{id}/sync", Access::require("envs", "write"),
           {"Write a running environment's project view (/project) back into the project's files now; the "
            "report lists what was added, updated, deleted, and what was not synced or conflicted, and why",
            "envs", nullptr, kObj},
           bind_front(sync_env, ref(svc)), http::TxMode::kNone});
  api.add({"GET", "/api/v1/envs/{id}/events", Access::require("envs", "read"),
           {"An environment's state changes; follow=true streams them as server-sent events", "envs", nullptr, kList, 200,
            {"follow", "after"}},
           bind_front(env_events_route, ref(svc), ref(rt))});
  api.add({"GET", "/api/v1/envs/{id}/logs", Access::require("envs", "write"),
           {"The environment's output (its owner, and those who may stop it)", "envs", nullptr, nullptr, 200,
            {"stream", "tail"}},
           bind_front(env_logs, ref(svc))});
  api.add({"POST", "/api/v1/envs/{id}/links", Access::require("envs", "write"),
           {"Make a guest link to an environment (its owner only); the secret is shown once", "envs", link_schema, kObj, 201,
            {}, false, {"url", "secret"}},
           bind_front(create_link, ref(svc))});
  api.add({"GET", "/api/v1/envs/{id}/links", Access::require("envs", "write"),
           {"An environment's guest links (without their secrets)", "envs", nullptr, kList}, list_links_route});
  api.add({"DELETE", "/api/v1/envs/{id}/links/{link}", Access::require("envs", "write"),
           {"Revoke a guest link", "envs", nullptr, nullptr, 204}, bind_front(revoke_link_route, ref(svc))});
  add_admin_routes(api, svc);  // GET /api/v1/admin/envs (routes_admin.cpp)
}

}  // namespace atrium::envs
