// Private to images/: what the route files share.
#pragma once

#include "http/api.hpp"
#include "identity/store.hpp"
#include "images/service_impl.hpp"
#include "projects/projects.hpp"

namespace atrium::images::detail {

using http::Access;
using http::Context;
using http::Response;
using http::Target;
using nlohmann::json;

// The route's {org}, authorized for `perm` (404 for strangers), in `tx`.
Result<identity::Org> load_org(Context& ctx, db::Tx& tx, const http::Permission& perm);
// The image {id}, authorized for `project_perm` (a project's image) or `org_perm` (an org-wide one):
// 404 for anyone who may not see it.
Result<Image> load_image(Context& ctx, db::Tx& tx, const http::Permission& project_perm,
                         const http::Permission& org_perm);
// 201 (ready) or 202 (pending) with the image, its ETag and Location.
Response image_created(const Image& im);

void add_registry_routes(http::Api& api, Service& svc);

}  // namespace atrium::images::detail
