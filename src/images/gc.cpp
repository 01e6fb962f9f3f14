// Garbage collection of images: the roots that no pending or ready image names and that no running
// job or environment uses (Service::set_in_use), then the shared layout's unreferenced blobs.
#include <cstdio>
#include <set>

#include <spdlog/spdlog.h>

#include "core/dir.hpp"
#include "images/service_impl.hpp"
#include "images/store.hpp"

namespace atrium::images {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::int64_t tree_bytes(const fs::path& p) {
  std::int64_t n = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(p, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
    if (it->is_regular_file(ec) && !it->is_symlink(ec)) n += static_cast<std::int64_t>(it->file_size(ec));
  return n;
}

}  // namespace

Result<json> Service::Impl::gc() {
  std::set<std::string> digests;
  std::error_code ec;
  for (auto it = fs::directory_iterator(roots_dir(), ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    std::string d = "sha256:" + it->path().filename().string();
    if (valid_digest(d)) digests.insert(d);
  }
  for (auto& r : TRY(db.read([](db::Tx& tx) { return store::list_roots(tx); }))) digests.insert(r.digest);
  std::int64_t removed = 0, bytes = 0;
  std::vector<std::string> tags;
  for (const auto& d : digests) {
    if (TRY(db.read([&](db::Tx& tx) { return store::digest_named(tx, d); }))) continue;
    if (in_use) {
      auto used = in_use(d);
      if (!used || *used) continue;  // in doubt, keep it
    }
    std::lock_guard lock(roots_mu);
    // Again, under the lock that ingest_root() takes: a pull that named it meanwhile keeps it.
    bool gone = TRY(db.write([&](db::Tx& tx) -> Result<bool> {
      if (TRY(store::digest_named(tx, d))) return false;
      TRY_STATUS(store::delete_root(tx, d));
      return true;
    }));
    if (!gone) continue;
    fs::path dir = root_dir(d);
    if (fs::exists(dir, ec)) {
      fs::path trash = tmp_path("gc");
      if (std::rename(dir.c_str(), trash.c_str()) != 0) {
        spdlog::warn("images: cannot remove {}: rename failed", dir.string());
        continue;
      }
      bytes += tree_bytes(trash);
      fs::remove_all(trash, ec);
      ++removed;
    }
    tags.push_back(hex_of(d));
  }
  // The layout: untag what went, then drop the blobs no tag reaches.
  std::lock_guard lock(layout_mu);
  auto env = tool_env(tmp_dir());
  for (auto& t : tags)
    (void)run_tool({s.umoci, "rm", "--image", oci_dir().string() + ":" + t}, {.timeout_ms = 60'000, .env = env});
  auto r = TRY(run_tool({s.umoci, "gc", "--layout", oci_dir().string()}, {.timeout_ms = 600'000, .env = env}));
  if (r.status != 0) spdlog::warn("images: umoci gc: {}", r.err.substr(0, 400));
  return json{{"roots_removed", removed}, {"bytes", bytes}};
}

}  // namespace atrium::images
