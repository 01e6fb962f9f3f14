// A blob as a download: the response whose body a BlobStore reader decrypts on the worker pool a
// few pieces ahead of the client (an async::Stream), with Range, If-Range and If-None-Match.
#pragma once

#include <cstdint>
#include <string>

#include "data/blobs.hpp"
#include "http/api.hpp"

namespace atrium::async {
class Runtime;
}

namespace atrium::data {

// Range (206, 416), If-Range, If-None-Match (304), Content-Length, Content-Disposition naming the
// last segment of `path`; streamed and decrypted on `rt`'s pool as the client takes it.
Result<http::Response> serve_blob(http::Context& ctx, BlobStore& blobs, async::Runtime& rt, const std::string& blob_id,
                                  std::int64_t size, const std::string& etag, const std::string& path);

}  // namespace atrium::data
