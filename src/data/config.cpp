#include "data/config.hpp"

namespace atrium::data {

void declare(config::Registry& r, Config& c) {
  r.section("data", c)
      .path("key_file", "the data store's master key file (\"\" = <data_dir>/master.key)", &Config::key_file)
      .integer("max_chunk_bytes", "largest upload chunk (one PATCH body)", &Config::max_chunk_bytes, 4096,
               std::int64_t{1} << 30)
      .integer("max_file_bytes", "largest file", &Config::max_file_bytes, 1, std::int64_t{1} << 50)
      .integer("upload_ttl_h", "hours an untouched upload is kept", &Config::upload_ttl_h, 1, 24 * 365)
      .integer("gc_grace_s", "seconds an unreferenced blob is kept before collection", &Config::gc_grace_s, 0,
               86400 * 365)
      .integer("reserve_bytes", "free disk space that uploads never take", &Config::reserve_bytes, 0,
               std::int64_t{1} << 50)
      .integer("capture_timeout_s", "longest capture of a finished job's outputs, in seconds",
               &Config::capture_timeout_s, 1, 86400);
}

}  // namespace atrium::data
