// Private to identity/: what the route files share (loading the org or group a path names,
// checks of body fields, who may grant what) and each file's registration function.
#pragma once

#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "http/api.hpp"
#include "identity/routes.hpp"

namespace atrium::identity::detail {

using http::Access;
using http::Context;
using http::list_schema;
using http::paged;
using http::Response;
using http::Target;
using http::with_etag;
using nlohmann::json;

inline const json& kObj = http::object_schema();
inline const http::Permission kOrgRead{"orgs", "read"};

// A JSON Schema object of these (name, type) properties.
json obj(std::initializer_list<std::pair<const char*, const char*>> props, std::vector<std::string> required = {});
Result<std::string> slug_field(const http::JsonBody& b, const char* key);
Result<std::string> name_field(const http::JsonBody& b, const char* key, bool required);
// Loads the org named in the path and checks the route's permission on it (404 for strangers).
Result<Org> org_of(Context& ctx, const http::Permission* perm = nullptr);
// Nobody hands out, through a role, a permission they do not hold (nor, with a token, one
// outside the token's scopes).
Status may_grant(Context& ctx, const std::string& org_id, const std::vector<std::string>& perms);
Status may_grant_role(Context& ctx, const std::string& org_id, const std::string& role_id);

// Parts of add_org_routes, one per file.
void add_role_routes(http::Api& api);
void add_invitation_routes(http::Api& api, const RouteDeps& deps);
void add_quota_routes(http::Api& api, const RouteDeps& deps);
// Parts of add_auth_routes: users and their administration, account recovery.
void add_user_routes(http::Api& api, const RouteDeps& deps);
void add_account_routes(http::Api& api, const RouteDeps& deps);

}  // namespace atrium::identity::detail
