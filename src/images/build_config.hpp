// The [image_builds] section: where builds get packages, and what a build job may use.
#pragma once

#include <cstdint>
#include <string>

#include "core/config.hpp"

namespace atrium::images {

struct BuildConfig {
  // A sources.list line without "deb" for the builds' apt: "[trusted=yes] file:///srv/apt ./"; "" = no apt.
  std::string apt_mirror;
  // A directory of wheels and sdists for the builds' pip: "file:///srv/wheels"; "" = no pip packages.
  std::string pip_index_url;
  int cpus = 2;
  std::int64_t mem_mb = 4096;
  int time_limit_s = 3600;
};

void declare(config::Registry& r, BuildConfig& c);

}  // namespace atrium::images
