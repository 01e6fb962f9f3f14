#include "data/routes_common.hpp"

#include "data/paths.hpp"
#include "projects/routes.hpp"

namespace atrium::data::detail {

Result<projects::Project> load_project(Context& ctx, db::Tx& tx, const http::Permission& perm) {
  return projects::load_in_route(ctx, tx, perm);
}

Status writable(const projects::Project& p) { return projects::check_writable(p); }

Result<std::string> path_param(Context& ctx) { return normalize_path(ctx.param("path")); }

Result<std::string> path_field(std::string_view raw, const char* field) {
  auto n = normalize_path(raw);
  if (!n) return fail(Error(n.error()).with("field", field));
  return *n;
}

Response link_created(const Service& svc, const LinkRow& l) {
  auto j = l.json();
  j["token"] = svc.link_token(l);
  j["url"] = "/dl/" + j["token"].get<std::string>();
  return http::with_etag(Response::json(201, j), j).header("Location", "/api/v1/links/" + l.id);
}

std::string blob_etag(const std::string& blob_id) { return "\"" + blob_id.substr(0, 32) + "\""; }

nlohmann::json entry_json(const ManifestEntry& e) {
  return {{"path", e.path}, {"size", e.size}, {"sha256", e.blob_id}};
}

}  // namespace atrium::data::detail
