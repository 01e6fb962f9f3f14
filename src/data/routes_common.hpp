// Private to data/: what the data routes' files share (loading the route's project or object,
// paths from requests, link and manifest JSON) and each file's registration function.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <type_traits>

#include <nlohmann/json.hpp>

#include "data/service.hpp"
#include "data/store.hpp"
#include "http/api.hpp"
#include "projects/projects.hpp"

namespace atrium::async {
class Runtime;
}

namespace atrium::data::detail {

namespace fs = std::filesystem;
using http::Access;
using http::Context;
using http::Response;
using http::Target;
using nlohmann::json;

constexpr std::size_t kMaxManifest = 1'000'000;  // files in one dataset version

// The route's project ({id}), authorized for `perm`, in `tx`.
Result<projects::Project> load_project(http::Context& ctx, db::Tx& tx, const http::Permission& perm);
Status writable(const projects::Project& p);
// The route's {path*}, normalized.
Result<std::string> path_param(http::Context& ctx);
// A path from the request, normalized; a bad one is 400 naming `field`.
Result<std::string> path_field(std::string_view raw, const char* field);
// 201 for a new signed link: the link, its token and URL (shown once), ETag, Location.
http::Response link_created(const Service& svc, const LinkRow& l);
// A version's file (or a link's) as a download: its ETag is the blob's, as content never changes.
std::string blob_etag(const std::string& blob_id);
nlohmann::json entry_json(const ManifestEntry& e);

// The object (a link, a dataset) a route's {id} names, found by `get` and authorized on its
// project; 404 for anyone who may not see that project.
template <typename Get>
auto load_in_project(http::Context& ctx, db::Tx& tx, const http::Permission& perm, Get get, const char* what)
    -> Result<typename std::remove_cvref_t<decltype(*get(tx, std::string()))>::value_type> {
  auto row = TRY(get(tx, ctx.param("id")));
  auto p = row ? TRY(projects::get_for(tx, row->project_id, ctx.who().user_id)) : std::nullopt;
  if (!row || !p) {
    ctx.filtered();
    return not_found(what);
  }
  TRY_STATUS(ctx.authorize(perm, projects::target_of(*p)));
  return *row;
}

// Each file's routes.
void add_upload_routes(http::Api& api, Service& svc);
void add_file_routes(http::Api& api, Service& svc, async::Runtime& rt);
void add_dataset_routes(http::Api& api, Service& svc, async::Runtime& rt);

}  // namespace atrium::data::detail
