// The data module's service: garbage collection of blobs, uploads and staging files nothing refers
// to, plaintext copies of dataset versions for jobs (materialize, release), and capture of a job's
// outputs as blobs. The routes (data/routes.hpp) and the jobs module call it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/clock.hpp"
#include "data/blobs.hpp"
#include "data/store.hpp"
#include "db/database.hpp"

namespace atrium::quota {
class Registry;
}

namespace atrium::data {

struct Settings {
  std::filesystem::path staging_dir;        // uploads in progress
  std::filesystem::path datasets_dir;       // dataset versions materialized for jobs
  std::int64_t max_chunk_bytes = 64 << 20;  // one PATCH body
  std::int64_t max_file_bytes = std::int64_t{1} << 40;
  Millis upload_ttl = 7LL * 24 * 3600 * 1000;     // an upload untouched this long is dropped
  Millis gc_grace = 3600 * 1000;                  // a blob unreferenced this long may be collected
  Millis max_link_ttl = 30LL * 24 * 3600 * 1000;  // longest signed-link lifetime
  std::int64_t reserve_bytes = 256 << 20;         // free disk space uploads never take
  Millis capture_timeout = 600'000;               // longest capture of a job's outputs
  // Whether a running job of host uid `uid` mounts this dataset version (its plaintext copy stays).
  std::function<Result<bool>(const std::string& dataset_id, std::int64_t number, std::int64_t uid)> version_in_use;
};

struct GcReport {
  std::int64_t blobs = 0, bytes = 0, orphan_objects = 0, expired_uploads = 0, staging_files = 0;
  std::int64_t materialized = 0;  // plaintext dataset copies no running job mounts
  bool dry_run = true;
  nlohmann::json json() const;
};

class Service {
 public:
  Service(db::Database& db, const Clock& clock, BlobStore& blobs, Settings s);

  BlobStore& blobs() { return blobs_; }
  // Set once at startup, before requests (the jobs service is made after this one).
  void set_version_in_use(std::function<Result<bool>(const std::string&, std::int64_t, std::int64_t)> f) {
    settings_.version_in_use = std::move(f);
  }
  const Settings& settings() const { return settings_; }
  // Storage quotas count what every module stores (app/ sets it once quotas are registered).
  void set_quotas(const quota::Registry* q) { quotas_ = q; }
  const quota::Registry* quotas() const { return quotas_; }
  const Clock& clock() const { return clock_; }

  // Drops expired uploads and staging files without an upload, then (unless dry_run) the blobs
  // nothing has referred to for the grace period and objects the database does not know that are
  // older than it. Never collects a blob an upload in progress or a new file refers to: finishing
  // an upload and collecting exclude each other.
  Result<GcReport> gc(bool dry_run);

  // The directory holding the plaintext files of a dataset version for the jobs of host uid
  // `uid` to mount read-only: one copy per (version, uid), decrypted and verified into a temp
  // directory, then renamed into place under `datasets_dir` (root-only, 0711). Files are
  // root:uid 0440 and directories root:uid 0550: readable by that uid only, and not changeable
  // by it. The copy lives while a running job of that uid mounts the version (release()).
  Result<std::string> materialize(const std::string& dataset_id, std::int64_t number, std::int64_t uid);
  // A job of `uid` that mounted the version has ended: its copy goes unless another running job
  // of that uid still mounts it.
  Status release(const std::string& dataset_id, std::int64_t number, std::int64_t uid);
  // Removes every copy no running job mounts (leftovers of a crash, of an older layout, temp
  // directories); the number removed. Called at startup and by gc.
  Result<std::int64_t> sweep_materialized(bool dry_run);

  // A finished job's declared outputs: the regular files of `workspace` owned by `uid` whose
  // relative path matches one of `globs` (fnmatch, '/' matched literally), stored as blobs.
  // Walks with directory fds (core/dir.hpp): symlinks are never followed, nothing outside the
  // workspace is read. Before a byte is read, the sizes (fstat) are checked against
  // max_file_bytes, the owner's storage quotas and the disk (less reserve_bytes); the whole
  // capture must end within capture_timeout. Any refusal stores nothing and says why.
  Result<std::vector<ManifestEntry>> capture(const std::filesystem::path& workspace, std::int64_t uid,
                                             const std::vector<std::string>& globs, const StorageOwner& owner);

  // Free bytes uploads may still claim on the staging disk (free space less the reserve and the
  // rest of every upload in progress).
  Result<std::int64_t> disk_room(db::Tx& tx);

  // One upload's chunks and completion are serial; a second request meanwhile gets 409.
  class UploadLock {
   public:
    UploadLock(Service& s, std::string id);
    ~UploadLock();
    bool held() const { return held_; }

   private:
    Service& s_;
    std::string id_;
    bool held_ = false;
  };
  std::shared_mutex& gc_mutex() { return gc_mu_; }
  std::filesystem::path staging_file(const std::string& upload_id) const;
  // A signed link's token: "<id>.<HMAC of what the link grants>".
  std::string link_token(const LinkRow& l) const;

 private:
  db::Database& db_;
  const Clock& clock_;
  BlobStore& blobs_;
  Settings settings_;
  const quota::Registry* quotas_ = nullptr;
  std::mutex busy_mu_;
  std::set<std::string> busy_;
  std::shared_mutex gc_mu_;
  std::mutex materialize_mu_;  // making and removing plaintext copies of dataset versions
  std::string link_key_;
};

}  // namespace atrium::data
