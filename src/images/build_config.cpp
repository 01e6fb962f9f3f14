#include "images/build_config.hpp"

#include "images/build_spec.hpp"

namespace atrium::images {

void declare(config::Registry& r, BuildConfig& c) {
  r.section("image_builds", c)
      .string("apt_mirror",
              "apt source of image builds, a sources.list line without \"deb\" (local directories only so far: "
              "\"[trusted=yes] file:///srv/apt ./\"); empty: builds cannot install Debian packages",
              &BuildConfig::apt_mirror)
      .string("pip_index_url",
              "directory of wheels and sdists for image builds (\"file:///srv/wheels\"); empty: builds cannot "
              "install Python packages",
              &BuildConfig::pip_index_url)
      .integer("cpus", "CPUs of an image build job", &BuildConfig::cpus, 1, 256)
      .integer("mem_mb", "memory of an image build job in MB", &BuildConfig::mem_mb, 256, std::int64_t{1} << 20)
      .integer("time_limit_s", "time limit of an image build job in seconds", &BuildConfig::time_limit_s, 60, 86400)
      .check([](BuildConfig& c) -> Status {
        auto d = mirror_dirs({.apt = c.apt_mirror, .pip = c.pip_index_url});
        if (!d) return invalid("image_builds: " + d.error().detail);
        return {};
      });
}

}  // namespace atrium::images
