// Git over HTTP: the smart protocol at /{org}/{project}.git (clone, fetch, push with an API token
// as the HTTP Basic password), push audit and protected branches, and the repository API under
// /api/v1/projects/{id}/repo (branches, tags, log, tree, file content, compare, file edits as
// commits guarded by the branch head).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "db/database.hpp"
#include "http/api.hpp"
#include "vcs/git.hpp"
#include "vcs/store.hpp"

namespace atrium::async {
class Runtime;
}

namespace atrium::vcs {

struct Settings {
  std::size_t max_blob_bytes = 10 << 20;   // file content through the API
  std::size_t max_patch_bytes = 4 << 20;   // a compare's patch text
};

// Whether a request goes to git's smart HTTP service (its body is spooled to disk).
bool is_git_service_request(std::string_view method, std::string_view target);

// git's packs are streamed with `rt`'s worker pool collecting git's exit.
void add_routes(http::Api& api, Repos& repos, async::Runtime& rt, Settings s = {});

namespace detail {
// Part of add_routes: git's smart HTTP service (vcs/smart_http.cpp).
void add_smart_http_routes(http::Api& api, Repos& repos, async::Runtime& rt);
}  // namespace detail

}  // namespace atrium::vcs
