// The [images] section (app/ turns it into images::Settings).
#pragma once

#include <cstdint>
#include <string>

#include "core/config.hpp"

namespace atrium::images {

struct Config {
  // Registries reached over plain HTTP or TLS without verification: host[:port] globs,
  // comma-separated or a TOML array ("127.0.0.1:*", "harbor.lab.internal"); "" = none.
  std::string insecure_registries;
  // The registries pulls may use: host[:port] globs ("ghcr.io", "*.lab.internal"); "" = any host
  // the server reaches (a pull makes the server contact the host its source names).
  std::string allowed_registries;
  std::int64_t unpack_uid = 1'999'999;        // the unprivileged uid that unpacks images
  std::int64_t max_image_bytes = 20LL << 30;  // largest image, unpacked
  int pull_timeout_s = 1800;                  // longest copy or unpack of one image
  int gc_interval_s = 3600;                   // the periodic collection of unused images
  std::string arch;                           // the platform picked from multi-platform images ("" = this machine's)
};

void declare(config::Registry& r, Config& c);

struct Settings;
// The service's settings: files under <data_dir>/images, registry passwords sealed with `key`.
Settings settings_from(const Config& c, const std::string& data_dir, std::string key);

}  // namespace atrium::images
