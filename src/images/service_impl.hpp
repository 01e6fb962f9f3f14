// Module-internal (images/): the Service's state and the operations its files share (pull.cpp,
// gc.cpp, routes*.cpp, and the import and build code of helpers "imports" and "builds").
//
// Storage under Settings::dir (root-only, 0700):
//   oci/                  one OCI layout shared by every pulled image: a layer is stored once
//   roots/<hex>/rootfs    the unpacked, neutralised root of digest sha256:<hex> (root-owned, 0755)
//   tmp/                  work directories of pulls, imports and builds (emptied at startup)
#pragma once

#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/actor.hpp"
#include "images/images.hpp"
#include "images/reference.hpp"
#include "images/tool.hpp"
#include "images/unpack.hpp"

namespace atrium::images {

// A pull, import or build request that passed the route's checks (caller authorized, body valid).
struct NewImage {
  std::string org_id, project_id, group_id;  // project_id "" = org-wide
  std::string name, source;
  bool make_default = false;
  Actor actor;
};

// What skopeo said about a reference: the platform manifest's digest and the layers' size.
struct Resolved {
  std::string digest;
  std::int64_t layers_bytes = 0;
};

struct Service::Impl {
  Impl(db::Database& d, const Clock& c, Settings st) : db(d), clock(c), s(std::move(st)) {}

  db::Database& db;
  const Clock& clock;
  Settings s;
  std::function<Result<bool>(const std::string&)> in_use;  // see Service::set_in_use
  const quota::Registry* quotas = nullptr;
  std::mutex layout_mu;  // the shared OCI layout: one writer at a time (skopeo copy, umoci rm and gc)
  std::mutex roots_mu;   // moves into and out of roots/

  std::filesystem::path oci_dir() const { return s.dir / "oci"; }
  std::filesystem::path roots_dir() const { return s.dir / "roots"; }
  std::filesystem::path tmp_dir() const { return s.dir / "tmp"; }
  static std::string hex_of(const std::string& digest) { return digest.substr(7); }
  std::filesystem::path root_dir(const std::string& digest) const { return roots_dir() / hex_of(digest); }
  // A new, unused path under tmp/ (not created).
  std::filesystem::path tmp_path(std::string_view what) const;
  UnpackLimits limits() const;
  std::vector<std::string> tool_env(const std::filesystem::path& home) const;
  std::string arch() const { return s.arch.empty() ? host_arch() : s.arch; }

  // Creates the directories (and the OCI layout) and empties tmp/.
  Status init();

  // The storage quota of the org, the group and the user for `bytes` more: every module's storage
  // when quotas are set, else the images' own.
  Status check_quota(db::Tx& tx, const std::string& org_id, const std::string& group_id, const std::string& user_id,
                     std::int64_t bytes) const;

  // ---- pulls (pull.cpp)
  // skopeo inspect: the digest to pull (a tag resolved, a platform picked from an index, a given
  // digest checked against what the registry serves). Errors are 4xx problems naming the host.
  Result<Resolved> resolve_remote(const Reference& r, const std::string& org_id);
  // Writes an auth file (0600) for `host` with the org's credentials into `dir`; "" when it has none.
  Result<std::string> auth_file(const std::string& org_id, const std::string& host, const std::filesystem::path& dir);
  // POST .../images: resolves, checks the quota and stores the image row (ready at once when the
  // digest is stored; else pending with an images.pull task). Returns the image.
  Result<Image> start_pull(const NewImage& req);
  Status pull_task(const nlohmann::json& payload);

  // ---- roots
  // Moves `prepared` (a directory holding a neutralised rootfs/, root-owned) in as the root of
  // `digest` (or drops it when that digest is stored already) and marks every pending image of
  // `digest` ready, with `image_id` (when not "") set to `digest` first. Images a post-unpack quota
  // check refuses fail instead. Returns the image `image_id` as it is then (or an empty Image).
  Result<Image> ingest_root(const std::string& image_id, const std::string& digest,
                            const std::filesystem::path& prepared, const nlohmann::json& software, std::int64_t size);
  // Every pending image of `digest` fails with `error`; its pulling root row goes.
  Status fail_digest(const std::string& digest, const std::string& error);

  // ---- garbage collection (gc.cpp): roots no live image names and no job uses, then the
  // layout's unreferenced blobs. Returns {"roots_removed": n, "bytes": b}.
  Result<nlohmann::json> gc();
};

// The JSON of an image as the API shows it (Image::json() plus "ref": "name@digest").
nlohmann::json image_json(const Image& im);
// Image names: 1-64 of a-z 0-9 . _ - starting with a letter or digit.
bool valid_image_name(std::string_view name);

}  // namespace atrium::images
