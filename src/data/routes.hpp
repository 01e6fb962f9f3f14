// The data store over HTTP: project files (list, stat, download with Range, move, delete),
// resumable uploads (create, send chunks at offsets, ask the offset, complete with the SHA-256,
// abandon), signed links, datasets and their versions, and garbage collection (data/service.hpp).
#pragma once

#include "data/service.hpp"
#include "http/api.hpp"

namespace atrium::async {
class Runtime;
}
namespace atrium::tasks {
class Queue;
}

namespace atrium::data {

// Downloads are decrypted on `rt`'s worker pool.
void add_routes(http::Api& api, Service& svc, async::Runtime& rt);
// Garbage collection as the "data.gc" task (its handler registered on `queue`, before it starts)
// and POST /api/v1/admin/gc, which enqueues one and waits a while for its report.
void add_gc(http::Api& api, Service& svc, tasks::Queue& queue);

}  // namespace atrium::data
