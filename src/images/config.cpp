#include "images/config.hpp"

#include <vector>

#include "images/images.hpp"

namespace atrium::images {

void declare(config::Registry& r, Config& c) {
  r.section("images", c)
      .list("insecure_registries",
            "registry hosts (globs, e.g. 127.0.0.1:*) reached over plain HTTP or unverified TLS; \"\" = none",
            &Config::insecure_registries)
      .list("allowed_registries",
            "registry hosts (globs) pulls may use, e.g. [\"ghcr.io\", \"docker.io\", \"*.lab.internal\"]; \"\" = any",
            &Config::allowed_registries)
      .integer("unpack_uid", "the unprivileged uid (and gid) that unpacks images; never a job's uid",
               &Config::unpack_uid, 1, 4'294'967'294LL)
      .integer("max_image_bytes", "largest image, unpacked, in bytes", &Config::max_image_bytes, 1 << 20,
               std::int64_t{1} << 50)
      .integer("pull_timeout_s", "longest copy or unpack of one image, in seconds", &Config::pull_timeout_s, 10, 86400)
      .integer("gc_interval_s", "seconds between collections of images nothing uses", &Config::gc_interval_s, 60,
               86400 * 30)
      .string("arch", "the platform pulled from multi-platform images (\"\" = this machine's: amd64, arm64)",
              &Config::arch, {"", "amd64", "arm64", "ppc64le", "s390x", "riscv64"});
}

namespace {

// "a, b,c" -> {"a", "b", "c"}
std::vector<std::string> split_list(const std::string& list) {
  std::vector<std::string> out;
  for (std::size_t start = 0; start <= list.size();) {
    auto comma = list.find(',', start);
    std::string item = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (!item.empty()) out.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

}  // namespace

Settings settings_from(const Config& c, const std::string& data_dir, std::string key) {
  Settings s;
  s.dir = std::filesystem::path(data_dir) / "images";
  s.unpack_uid = c.unpack_uid;
  s.max_image_bytes = c.max_image_bytes;
  s.pull_timeout_ms = Millis{c.pull_timeout_s} * 1000;
  s.gc_interval_ms = Millis{c.gc_interval_s} * 1000;
  s.key = std::move(key);
  s.arch = c.arch;
  s.insecure_registries = split_list(c.insecure_registries);
  s.allowed_registries = split_list(c.allowed_registries);
  return s;
}

}  // namespace atrium::images
