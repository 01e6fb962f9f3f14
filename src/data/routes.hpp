// The data store over HTTP: project files (list, stat, download with Range, move, delete),
// resumable uploads (create, send chunks at offsets, ask the offset, complete with the SHA-256,
// abandon), signed links, datasets and their versions, and garbage collection (data/service.hpp).
#pragma once

#include "data/service.hpp"
#include "http/api.hpp"

namespace atrium::async {
class Runtime;
}

namespace atrium::data {

// Downloads are decrypted on `rt`'s worker pool.
void add_routes(http::Api& api, Service& svc, async::Runtime& rt);

}  // namespace atrium::data
