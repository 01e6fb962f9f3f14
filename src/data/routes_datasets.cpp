#include <algorithm>
#include <charconv>
#include <filesystem>
#include <functional>
#include <set>

#include "core/ids.hpp"
#include "core/text.hpp"
#include "data/blob_body.hpp"
#include "data/paths.hpp"
#include "data/routes_common.hpp"

namespace atrium::data::detail {
namespace {

Result<DatasetRow> load_dataset(Context& ctx, db::Tx& tx, const http::Permission& perm) {
  return load_in_project(ctx, tx, perm, get_dataset, "dataset");
}

Result<std::int64_t> version_number(const std::string& text, const char* field) {
  std::int64_t n = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || p != text.data() + text.size() || n < 1)
    return fail(Error(ErrorCode::kInvalidArgument, "invalid-version",
                      std::string(field) + " must be a version number (1, 2, ...)")
                    .with("field", field));
  return n;
}

Result<json> load_version(db::Tx& tx, const DatasetRow& d, std::int64_t n) {
  auto v = TRY(get_version(tx, d.id, n));
  if (!v) return not_found("version " + std::to_string(n) + " of dataset " + d.name);
  return *v;
}

json entry_json(const ManifestEntry& e) { return {{"path", e.path}, {"size", e.size}, {"sha256", e.blob_id}}; }

constexpr std::size_t kMaxManifest = 1'000'000;

// ---- handlers, one per endpoint

Result<Response> dataset_create(Context& ctx) {
  auto p = TRY(load_project(ctx, ctx.t(), {"files", "write"}));
  TRY_STATUS(writable(p));
  auto b = TRY(ctx.json());
  TRY_STATUS(b.only({"name", "description"}));
  DatasetRow d;
  d.name = TRY(b.str("name", 64));
  if (!is_valid_slug(d.name))
    return fail(
        Error(ErrorCode::kInvalidArgument, "invalid-field",
              "name must be 1-64 of a-z 0-9 - _ . starting with a letter or digit (it names /data/<name> in jobs)")
            .with("field", "name"));
  d.description = TRY(b.opt_str("description", 2000)).value_or("");
  TRY_STATUS(check_display_text("description", d.description, 2000, true));
  d.id = new_id("dst", ctx.now());
  d.project_id = p.id;
  d.org_id = p.org_id;
  d.group_id = p.group_id;
  d.created_by = ctx.who().user_id;
  d = TRY(create_dataset(ctx.t(), ctx.actor(), d, ctx.now()));
  return http::with_etag(Response::json(201, d.json()), d.json()).header("Location", "/api/v1/datasets/" + d.id);
}

Result<Response> datasets_list(Context& ctx) {
  auto p = TRY(load_project(ctx, ctx.t(), {"files", "read"}));
  auto page = TRY(ctx.page());
  json items = json::array();
  for (auto& d : TRY(list_datasets(ctx.t(), p.id, page.after, page.limit))) items.push_back(d.json());
  return http::paged(std::move(items), page.limit, "name");
}

Result<Response> dataset_show(Context& ctx) {
  auto d = TRY(load_dataset(ctx, ctx.t(), {"files", "read"}));
  auto j = d.json();
  j["versions"] = TRY(list_versions(ctx.t(), d.id));
  return http::with_etag(Response::json(200, j), j);
}

Result<Response> version_create(Context& ctx) {
  auto d = TRY(load_dataset(ctx, ctx.t(), {"files", "write"}));
  auto b = TRY(ctx.json());
  TRY_STATUS(b.only({"prefix", "paths", "message"}));
  auto message = TRY(b.opt_str("message", 2000)).value_or("");
  TRY_STATUS(check_display_text("message", message, 2000, true));
  auto prefix_in = TRY(b.opt_str("prefix", 4 * kMaxPathBytes));
  auto paths = TRY(b.opt_str_list("paths", 100000, 4 * kMaxPathBytes));
  if (prefix_in && paths)
    return fail(
        Error(ErrorCode::kInvalidArgument, "invalid-field", "give prefix or paths, not both").with("field", "paths"));
  std::vector<ManifestEntry> entries;
  json provenance = {{"source", "files"}, {"project_id", d.project_id}};
  if (paths) {
    std::set<std::string> seen;
    for (auto& raw : *paths) {
      auto p = TRY(path_field(raw, "paths"));
      if (!seen.insert(p).second) continue;
      auto f = TRY(get_file(ctx.t(), d.project_id, p));
      if (!f)
        return fail(Error(ErrorCode::kInvalidArgument, "unknown-file", "no file named '" + p + "'")
                        .with("field", "paths")
                        .with("path", p));
      entries.push_back({f->path, f->blob_id, f->size});
    }
    std::sort(entries.begin(), entries.end(), [](auto& a, auto& b) { return a.path < b.path; });
    provenance["paths"] = entries.size();
  } else {
    std::string prefix;
    if (prefix_in && !prefix_in->empty()) {
      prefix = TRY(path_field(*prefix_in, "prefix"));
    }
    std::string after;
    for (;;) {
      auto page = TRY(list_files(ctx.t(), d.project_id, prefix, after, 10000));
      for (auto& f : page)
        entries.push_back({prefix.empty() ? f.path : f.path.substr(prefix.size() + 1), f.blob_id, f.size});
      if (page.size() < 10000) break;
      after = page.back().path;
      if (entries.size() > kMaxManifest)
        return fail(ErrorCode::kInvalidArgument, "too-many-files",
                    "a version holds at most " + std::to_string(kMaxManifest) + " files");
    }
    provenance["prefix"] = prefix;
  }
  auto v = TRY(add_version(ctx.t(), ctx.actor(), d, entries, message, provenance, ctx.now()));
  return Response::json(201, v).header(
      "Location", "/api/v1/datasets/" + d.id + "/versions/" + std::to_string(v["version"].get<std::int64_t>()));
}

Result<Response> version_show(Context& ctx) {
  auto d = TRY(load_dataset(ctx, ctx.t(), {"files", "read"}));
  auto n = TRY(version_number(ctx.param("n"), "n"));
  return Response::json(200, TRY(load_version(ctx.t(), d, n)));
}

Result<Response> version_files(Context& ctx) {
  auto d = TRY(load_dataset(ctx, ctx.t(), {"files", "read"}));
  auto n = TRY(version_number(ctx.param("n"), "n"));
  TRY(load_version(ctx.t(), d, n));
  auto page = TRY(ctx.page(1000));
  json items = json::array();
  for (auto& e : TRY(version_entries(ctx.t(), d.id, n, page.after, page.limit))) items.push_back(entry_json(e));
  return http::paged(std::move(items), page.limit, "path");
}

Result<Response> version_file_get(Service& svc, async::Runtime& rt, Context& ctx) {
  auto d = TRY(load_dataset(ctx, ctx.t(), {"files", "read"}));
  auto n = TRY(version_number(ctx.param("n"), "n"));
  auto path = TRY(path_param(ctx));
  auto e = TRY(version_entry(ctx.t(), d.id, n, path));
  if (!e) return not_found("file '" + path + "' in version " + std::to_string(n));
  return serve_blob(ctx, svc.blobs(), rt, e->blob_id, e->size, blob_etag(e->blob_id), path);
}

Result<Response> dataset_diff(Context& ctx) {
  auto d = TRY(load_dataset(ctx, ctx.t(), {"files", "read"}));
  auto from = TRY(version_number(std::string(ctx.req.query_param("from").value_or("")), "from"));
  auto to = TRY(version_number(std::string(ctx.req.query_param("to").value_or("")), "to"));
  TRY(load_version(ctx.t(), d, from));
  TRY(load_version(ctx.t(), d, to));
  auto a = TRY(version_entries(ctx.t(), d.id, from, "", static_cast<int>(kMaxManifest)));
  auto b = TRY(version_entries(ctx.t(), d.id, to, "", static_cast<int>(kMaxManifest)));
  json added = json::array(), removed = json::array(), changed = json::array();
  std::size_t i = 0, j = 0, same = 0;
  while (i < a.size() || j < b.size()) {  // both in path order
    if (j == b.size() || (i < a.size() && a[i].path < b[j].path)) {
      removed.push_back(entry_json(a[i++]));
    } else if (i == a.size() || b[j].path < a[i].path) {
      added.push_back(entry_json(b[j++]));
    } else {
      if (a[i].blob_id != b[j].blob_id)
        changed.push_back({{"path", a[i].path}, {"from", entry_json(a[i])}, {"to", entry_json(b[j])}});
      else
        ++same;
      ++i, ++j;
    }
  }
  return Response::json(200, json{{"dataset_id", d.id},
                                  {"from", from},
                                  {"to", to},
                                  {"added", added},
                                  {"removed", removed},
                                  {"changed", changed},
                                  {"unchanged", same}});
}

Result<Response> version_link_create(Service& svc, Context& ctx) {
  auto d = TRY(load_dataset(ctx, ctx.t(), {"files", "write"}));
  auto n = TRY(version_number(ctx.param("n"), "n"));
  auto v = TRY(load_version(ctx.t(), d, n));
  auto b = TRY(ctx.json());
  TRY_STATUS(b.only({"expires_in_s"}));
  auto ttl = TRY(b.opt_integer("expires_in_s", 1, svc.settings().max_link_ttl / 1000)).value_or(86400);
  LinkRow l;
  l.id = new_id("lnk", ctx.now());
  l.project_id = d.project_id;
  l.org_id = d.org_id;
  l.dataset_id = d.id;
  l.number = n;
  l.size = v["bytes"].get<std::int64_t>();
  l.created_by = ctx.who().user_id;
  l.created = ctx.now();
  l.expires = ctx.now() + ttl * 1000;
  TRY_STATUS(insert_link(ctx.t(), ctx.actor(), l, ctx.now()));
  return link_created(svc, l);
}

}  // namespace

void add_dataset_routes(http::Api& api, Service& svc, async::Runtime& rt) {
  const json kObj = http::object_schema();
  api.add({"POST", "/api/v1/projects/{id}/datasets", Access::require("files", "write"),
           {"Create a dataset (a name for immutable, numbered versions of a set of files)", "files",
            json{{"type", "object"},
                 {"required", {"name"}},
                 {"properties", {{"name", {{"type", "string"}}}, {"description", {{"type", "string"}}}}}},
            kObj, 201, {}, true},
           dataset_create});

  api.add({"GET", "/api/v1/projects/{id}/datasets", Access::require("files", "read"),
           {"A project's datasets by name", "files", nullptr, http::list_schema(), 200, {"limit", "after"}},
           datasets_list});

  api.add({"GET", "/api/v1/datasets/{id}", Access::require("files", "read"),
           {"A dataset and its versions (newest first)", "files", nullptr, kObj},
           dataset_show});

  api.add({"POST", "/api/v1/datasets/{id}/versions", Access::require("files", "write"),
           {"Record a new version: the project's files under `prefix` (paths relative to it; \"\" = every file) or the "
            "listed `paths`, as they are now; immutable once made",
            "files",
            json{{"type", "object"},
                 {"properties",
                  {{"prefix", {{"type", "string"}}},
                   {"paths", {{"type", "array"}, {"items", {{"type", "string"}}}}},
                   {"message", {{"type", "string"}}}}}},
            kObj, 201, {}, true},
           version_create});

  api.add({"GET", "/api/v1/datasets/{id}/versions/{n}", Access::require("files", "read"),
           {"One version of a dataset", "files", nullptr, kObj},
           version_show});

  api.add({"GET", "/api/v1/datasets/{id}/versions/{n}/files", Access::require("files", "read"),
           {"The manifest of a version: path, size, sha256 in path order", "files", nullptr, http::list_schema(), 200,
            {"limit", "after"}},
           version_files});

  api.add({"GET", "/api/v1/datasets/{id}/versions/{n}/files/{path*}", Access::require("files", "read"),
           {"Download a file of a dataset version (Range supported)", "files", nullptr, nullptr},
           std::bind_front(version_file_get, std::ref(svc), std::ref(rt))});

  api.add({"GET", "/api/v1/datasets/{id}/diff", Access::require("files", "read"),
           {"What changed between two versions (from, to): added, removed and changed paths", "files", nullptr, kObj, 200,
            {"from", "to"}},
           dataset_diff});

  api.add({"POST", "/api/v1/datasets/{id}/versions/{n}/links", Access::require("files", "write"),
           {"Make a signed link to a whole dataset version (expires_in_s, default 1 day): /dl/<token> lists its "
            "files, /dl/<token>/<path> downloads one; the url is shown once",
            "files",
            json{{"type", "object"}, {"properties", {{"expires_in_s", {{"type", "integer"}, {"minimum", 1}}}}}}, kObj,
            201, {}, true, {"token", "url"}},
           std::bind_front(version_link_create, std::ref(svc))});

  // The link a /dl/<token> names, if the token is its signature and it is still live.
}

}  // namespace atrium::data::detail
