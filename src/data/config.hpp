// The [data] section: the data store's key, upload sizes and lifetimes, the disk reserve (app/
// turns it into data::Settings).
#pragma once

#include <cstdint>
#include <string>

#include "core/config.hpp"

namespace atrium::data {

struct Config {
  std::string key_file;                       // the data store's master key; "" = <data_dir>/master.key
  std::int64_t max_chunk_bytes = 64LL << 20;  // one upload chunk (PATCH body)
  std::int64_t max_file_bytes = 1LL << 40;
  int upload_ttl_h = 24 * 7;                  // an upload untouched this long is dropped
  int gc_grace_s = 3600;                      // unreferenced blobs are kept this long
  std::int64_t reserve_bytes = 256LL << 20;   // free disk space uploads never take
  int capture_timeout_s = 600;                // longest capture of a job's outputs
};

void declare(config::Registry& r, Config& c);

}  // namespace atrium::data
