#include <filesystem>
#include <functional>

#include "core/crypto.hpp"
#include "core/ids.hpp"
#include "data/blob_body.hpp"
#include "data/paths.hpp"
#include "data/routes_common.hpp"

namespace atrium::data::detail {
namespace {

Result<LinkRow> load_link(Context& ctx, db::Tx& tx, const http::Permission& perm) {
  return load_in_project(ctx, tx, perm, get_link, "link");
}

// The link a /dl/<token> names, if the token is its signature and it is still live.
Result<LinkRow> live_link(const Service& svc, Context& ctx) {
  auto invalid_link = [] {
    return fail(ErrorCode::kNotFound, "link-invalid", "this link is expired, revoked, used or not a link");
  };
  const std::string& token = ctx.param("token");
  auto dot = token.find('.');
  if (dot == std::string::npos || !is_id(std::string_view(token).substr(0, dot), "lnk")) return invalid_link();
  auto l = TRY(ctx.db().read([&](db::Tx& tx) { return get_link(tx, token.substr(0, dot)); }));
  if (!l || !crypto::constant_time_equal(token, svc.link_token(*l))) return invalid_link();
  if (l->revoked || l->expires <= ctx.now()) return invalid_link();
  return *l;
}

// Counts and audits a GET through a link (HEAD is free).
Status count_use(Context& ctx, const LinkRow& l, const std::string& what) {
  if (ctx.req.method == "HEAD") return {};
  return ctx.db().write_tx([&](db::Tx& tx) { return use_link(tx, ctx.actor(), l, what.substr(0, 300), ctx.now()); });
}

// ---- handlers, one per endpoint

Result<Response> files_list(Context& ctx) {
  auto p = TRY(load_project(ctx, ctx.t(), {"files", "read"}));
  std::string prefix;
  if (auto v = ctx.req.query_param("prefix"); v && !v->empty()) {
    prefix = TRY(path_field(*v, "prefix"));
  }
  auto page = TRY(ctx.page(1000));
  json items = json::array();
  for (auto& f : TRY(list_files(ctx.t(), p.id, prefix, page.after, page.limit))) items.push_back(f.json());
  return http::paged(std::move(items), page.limit, "path");
}

Result<Response> file_get(Service& svc, async::Runtime& rt, Context& ctx) {
  auto p = TRY(load_project(ctx, ctx.t(), {"files", "read"}));
  auto path = TRY(path_param(ctx));
  auto f = TRY(get_file(ctx.t(), p.id, path));
  if (!f) return not_found("file '" + path + "'");
  if (ctx.req.query_param("stat").value_or("false") == "true")
    return http::with_etag(Response::json(200, f->json()), f->json());
  return serve_blob(ctx, svc.blobs(), rt, f->blob_id, f->size, f->etag(), path);
}

Result<Response> file_delete(Context& ctx) {
  auto p = TRY(load_project(ctx, ctx.t(), {"files", "write"}));
  TRY_STATUS(writable(p));
  auto path = TRY(path_param(ctx));
  auto f = TRY(get_file(ctx.t(), p.id, path));
  if (!f) return not_found("file '" + path + "'");
  if (ctx.req.header("if-match")) TRY_STATUS(ctx.check_if_match(f->etag()));
  TRY_STATUS(delete_file(ctx.t(), ctx.actor(), *f, ctx.now()));
  return Response::no_content();
}

Result<Response> file_move(Context& ctx) {
  auto p = TRY(load_project(ctx, ctx.t(), {"files", "write"}));
  TRY_STATUS(writable(p));
  auto b = TRY(ctx.json());
  TRY_STATUS(b.only({"from", "to", "overwrite"}));
  auto from = TRY(path_field(TRY(b.str("from", 4 * kMaxPathBytes)), "from"));
  auto to = TRY(path_field(TRY(b.str("to", 4 * kMaxPathBytes)), "to"));
  bool overwrite = TRY(b.opt_bool("overwrite")).value_or(false);
  auto f = TRY(get_file(ctx.t(), p.id, from));
  if (!f) return not_found("file '" + from + "'");
  if (ctx.req.header("if-match")) TRY_STATUS(ctx.check_if_match(f->etag()));
  auto out = TRY(move_file(ctx.t(), ctx.actor(), *f, to, overwrite, ctx.now()));
  return http::with_etag(Response::json(200, out.json()), out.json());
}

Result<Response> link_create(Service& svc, Context& ctx) {
  auto p = TRY(load_project(ctx, ctx.t(), {"files", "write"}));
  auto b = TRY(ctx.json());
  TRY_STATUS(b.only({"path", "expires_in_s", "one_time"}));
  auto path = TRY(path_field(TRY(b.str("path", 4 * kMaxPathBytes)), "path"));
  auto ttl = TRY(b.opt_integer("expires_in_s", 1, svc.settings().max_link_ttl / 1000)).value_or(86400);
  auto f = TRY(get_file(ctx.t(), p.id, path));
  if (!f) return not_found("file '" + path + "'");
  LinkRow l;
  l.id = new_id("lnk", ctx.now());
  l.project_id = p.id;
  l.org_id = p.org_id;
  l.path = f->path;
  l.blob_id = f->blob_id;
  l.size = f->size;
  l.created_by = ctx.who().user_id;
  l.created = ctx.now();
  l.expires = ctx.now() + ttl * 1000;
  l.one_time = TRY(b.opt_bool("one_time")).value_or(false);
  TRY_STATUS(insert_link(ctx.t(), ctx.actor(), l, ctx.now()));
  return link_created(svc, l);
}

Result<Response> links_list(Context& ctx) {
  auto p = TRY(load_project(ctx, ctx.t(), {"files", "read"}));
  auto page = TRY(ctx.page());
  json items = json::array();
  for (auto& l : TRY(list_links(ctx.t(), p.id, page.after, page.limit))) items.push_back(l.json());
  return http::paged(std::move(items), page.limit, "id");
}

Result<Response> link_revoke(Context& ctx) {
  auto l = TRY(load_link(ctx, ctx.t(), {"files", "write"}));
  if (ctx.req.header("if-match")) TRY_STATUS(ctx.check_if_match(l.json()["etag"].get<std::string>()));
  TRY_STATUS(revoke_link(ctx.t(), ctx.actor(), l, ctx.now()));
  return Response::no_content();
}

Result<Response> dl_get(Service& svc, async::Runtime& rt, Context& ctx) {
  auto l = TRY(live_link(svc, ctx));
  if (l.dataset_id.empty()) {
    TRY_STATUS(count_use(ctx, l, std::string(ctx.req.header("range").value_or(""))));
    return serve_blob(ctx, svc.blobs(), rt, l.blob_id, l.size, blob_etag(l.blob_id), l.path);
  }
  TRY_STATUS(count_use(ctx, l, "list"));
  json files = json::array();
  std::string after;
  for (;;) {
    auto page =
        TRY(ctx.db().read([&](db::Tx& tx) { return version_entries(tx, l.dataset_id, l.number, after, 10000); }));
    for (auto& e : page) {
      auto j = entry_json(e);
      j["url"] = "/dl/" + ctx.param("token") + "/" + http::percent_encode(e.path);
      files.push_back(std::move(j));
    }
    if (page.size() < 10000) break;
    after = page.back().path;
  }
  return Response::json(200, json{{"dataset_id", l.dataset_id},
                                  {"version", l.number},
                                  {"bytes", l.size},
                                  {"expires", format_rfc3339(l.expires)},
                                  {"files", files}});
}

Result<Response> dl_file_get(Service& svc, async::Runtime& rt, Context& ctx) {
  auto l = TRY(live_link(svc, ctx));
  auto path = TRY(path_param(ctx));
  if (l.dataset_id.empty()) return not_found("file '" + path + "'");
  auto e = TRY(ctx.db().read([&](db::Tx& tx) { return version_entry(tx, l.dataset_id, l.number, path); }));
  if (!e) return not_found("file '" + path + "'");
  std::string what = path;
  if (auto r = ctx.req.header("range")) what += " " + std::string(*r);
  TRY_STATUS(count_use(ctx, l, what));
  return serve_blob(ctx, svc.blobs(), rt, e->blob_id, e->size, blob_etag(e->blob_id), path);
}

}  // namespace

void add_file_routes(http::Api& api, Service& svc, async::Runtime& rt) {
  const json kObj = http::object_schema();
  api.add({"GET", "/api/v1/projects/{id}/files", Access::require("files", "read"),
           {"A project's files in path order, optionally under a directory (prefix=dir)", "files", nullptr,
            http::list_schema(), 200, {"prefix", "limit", "after"}},
           files_list});

  api.add({"GET", "/api/v1/projects/{id}/files/{path*}", Access::require("files", "read"),
           {"Download a file (Range: bytes=a-b for part of it; ETag and X-Content-SHA256 describe it); "
            "?stat=true answers its metadata as JSON",
            "files", nullptr, nullptr, 200, {"stat"}},
           std::bind_front(file_get, std::ref(svc), std::ref(rt))});

  api.add({"DELETE", "/api/v1/projects/{id}/files/{path*}", Access::require("files", "write"),
           {"Delete a file (If-Match: its ETag, optional)", "files", nullptr, nullptr, 204},
           file_delete});

  api.add({"POST", "/api/v1/projects/{id}/files-move", Access::require("files", "write"),
           {"Rename a file: {from, to, overwrite}", "files",
            json{{"type", "object"},
                 {"required", {"from", "to"}},
                 {"properties",
                  {{"from", {{"type", "string"}}}, {"to", {{"type", "string"}}}, {"overwrite", {{"type", "boolean"}}}}}},
            kObj},
           file_move});

  api.add({"POST", "/api/v1/projects/{id}/links", Access::require("files", "write"),
           {"Make a signed download link for a file as it is now: expiring (expires_in_s, default 1 day), optionally "
            "one-time; the url is shown once",
            "files",
            json{{"type", "object"},
                 {"required", {"path"}},
                 {"properties",
                  {{"path", {{"type", "string"}}},
                   {"expires_in_s", {{"type", "integer"}, {"minimum", 1}}},
                   {"one_time", {{"type", "boolean"}}}}}},
            kObj, 201, {}, true, {"token", "url"}},
           std::bind_front(link_create, std::ref(svc))});

  api.add({"GET", "/api/v1/projects/{id}/links", Access::require("files", "read"),
           {"A project's signed links (never their tokens)", "files", nullptr, http::list_schema(), 200,
            {"limit", "after"}},
           links_list});

  api.add({"DELETE", "/api/v1/links/{id}", Access::require("files", "write"),
           {"Revoke a signed link", "files", nullptr, nullptr, 204},
           link_revoke});

  // ---- datasets
  api.add({"GET", "/dl/{token}", Access::open(),
           {"Through a signed link: the file (Range supported), or a dataset version's file list; every use is audited",
            "files", nullptr, nullptr},
           std::bind_front(dl_get, std::ref(svc), std::ref(rt)),
           http::TxMode::kNone});

  api.add({"GET", "/dl/{token}/{path*}", Access::open(),
           {"Through a signed link to a dataset version: one of its files (Range supported); every use is audited",
            "files", nullptr, nullptr},
           std::bind_front(dl_file_get, std::ref(svc), std::ref(rt)),
           http::TxMode::kNone});
}

}  // namespace atrium::data::detail
