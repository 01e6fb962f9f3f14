// Images: the immutable root filesystems that jobs and environments run on. An image is pulled from
// an OCI registry (skopeo), imported from a SIF/squashfs or OCI archive file of the project, or built
// from a spec in the project's repository; it is stored once per content digest (unpacked, read-only,
// under <data_dir>/images/), counted against storage quota, and mounted read-only as / by the sandbox.
//
// This is the module's public contract (issue 18). Other modules use: resolve() to pin a job's or an
// environment's `image` text to a digest at submission, rootfs() to find what to mount at launch.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/actor.hpp"
#include "core/clock.hpp"
#include "core/error.hpp"
#include "db/database.hpp"

namespace atrium::projects {
struct Project;
}
namespace atrium::tasks {
class Queue;
}
namespace atrium::quota {
class Registry;
}

namespace atrium::images {

std::vector<db::Migration> migrations();

// A digest is "sha256:" + 64 lowercase hex digits. OCI images: the (platform) manifest's digest, what
// `skopeo inspect` shows; SIF/squashfs imports: the SHA-256 of the squashfs partition; built images:
// the manifest digest of the OCI image the build produced. Jobs record this, never a tag.
bool valid_digest(std::string_view d);

// What a job or an environment runs on, pinned at submission.
struct ImagePin {
  std::string image_id;  // the images row ("" when pinned by bare digest)
  std::string name;      // the name it was chosen by ("" when by digest)
  std::string digest;
};

// One image of a project (or org-wide: project_id ""). Names are unique per project (per org for
// org-wide images); several names may share a digest, whose files are stored once.
struct Image {
  std::string id, org_id, project_id, group_id, name;
  std::string digest;      // "" until the pull/import/build finished
  std::string source;      // "docker://registry/repo:tag", "sif:<project file path>", "oci-archive:<path>",
                           // "build:<spec path>@<commit>"
  std::string state;       // "pending" | "ready" | "failed"
  std::string error;       // failed: what went wrong, in words
  std::int64_t size_bytes = 0;   // unpacked size (what the storage quota counts)
  nlohmann::json software = nlohmann::json::object();  // {"os": {os-release fields}, "python": "3.11.2",
                                                       //  "packages": {"deb": 123, "python": 45}, ...}
  std::string created_by;
  Millis created_ms = 0, updated_ms = 0;
  std::int64_t version = 1;
  nlohmann::json json() const;
};

struct Settings {
  std::filesystem::path dir;         // <data_dir>/images: oci/ (shared OCI layout), roots/<hex>/, tmp/
  std::int64_t unpack_uid = 1'999'999;  // the unprivileged uid the unpackers run as (never a job's uid)
  std::int64_t max_image_bytes = 20LL << 30;  // refused beyond (unpacked)
  Millis pull_timeout_ms = 30 * 60'000;
  std::string skopeo = "skopeo", umoci = "umoci", unsquashfs = "unsquashfs";
  std::string key;  // seals registry passwords (derived from the data master key)
  std::vector<std::string> insecure_registries;  // host globs reached over plain HTTP / unverified TLS
  std::vector<std::string> allowed_registries;   // host globs pulls may use (empty: any)
  std::string arch;                              // the platform picked from an index ("" = this machine's)
  Millis gc_interval_ms = 3600'000;              // the periodic images.gc task
};

class Service {
 public:
  Service(db::Database& db, const Clock& clock, Settings s);
  ~Service();
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  // Registers the pull/import/build task kinds (images.pull, images.import, ...).
  void add_tasks(tasks::Queue& queue);

  // The host directory to mount as / for a ready digest: <dir>/roots/<hex>/rootfs. not_found when no
  // ready image has this digest (it was removed, or never finished).
  Result<std::filesystem::path> rootfs(const std::string& digest) const;

  // Pins the `image` text of a job or an environment in project p:
  //   "name" or "name@sha256:…" (a ready image of the project, or an org-wide one; with @ the digest
  //   must match: a mismatch is invalid_argument), or "sha256:…" (a ready image the project can see).
  //   "" = the project's default image (nullopt when it has none: run on the host root).
  // Errors are invalid_argument with field "image" and words a researcher understands.
  Result<std::optional<ImagePin>> resolve(db::Tx& tx, const projects::Project& p, std::string_view text) const;

  // Garbage collection asks its callers whether a digest is still used (a pending or running job,
  // an environment, a dataset version's provenance does not count: digests stay recorded after GC).
  void set_in_use(std::function<Result<bool>(const std::string& digest)> f);

  // Pull and unpack checks count the storage of every module (app/ sets it once quotas are registered).
  void set_quotas(const quota::Registry* q);

  // Storage quota: bytes of distinct digests held by images of the subject (org / group / user).
  Result<std::int64_t> storage_used(db::Tx& tx, const std::string& org_id, const std::string& kind,
                                    const std::string& subject_id) const;

  // The rest (routes, pull, import, build, gc) is the module's own; see routes.hpp and README.md.
  struct Impl;
  Impl& impl() { return *impl_; }
  const Impl& impl() const { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace atrium::images
