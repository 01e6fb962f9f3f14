// The data store's rows: project files (path -> blob), resumable uploads in progress, the blobs
// the files refer to, and storage usage for quotas. Every change here is made in the caller's
// transaction and audited there; the blob objects themselves are in BlobStore.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/actor.hpp"
#include "core/clock.hpp"
#include "core/error.hpp"
#include "db/database.hpp"

namespace atrium::quota {
class Registry;
}

namespace atrium::data {

std::vector<db::Migration> migrations();

struct FileRow {
  std::string project_id, path, org_id, group_id, owner_id, blob_id;
  std::int64_t size = 0;
  Millis created = 0, updated = 0;
  std::int64_t version = 1;
  std::string etag() const { return "\"" + blob_id.substr(0, 32) + "-v" + std::to_string(version) + "\""; }
  nlohmann::json json() const;
};

struct UploadRow {
  std::string id, project_id, org_id, group_id, user_id, path, sha256;
  std::int64_t size = 0, offset = 0, staged_bytes = 0;
  std::string wrapped_key;  // hex
  bool overwrite = false;
  Millis created = 0, updated = 0, expires = 0;
  nlohmann::json json() const;
};

// ---- files
Result<std::optional<FileRow>> get_file(db::Tx& tx, const std::string& project_id, const std::string& path);
// Files under `prefix` (a directory path without the trailing '/', "" = all) in path order, after
// `after`.
Result<std::vector<FileRow>> list_files(db::Tx& tx, const std::string& project_id, const std::string& prefix,
                                        const std::string& after, int limit);
// 409 file-exists for `path` (a write without `overwrite`).
std::unexpected<Error> file_exists_error(const std::string& path);
// Creates or replaces the file at f.path (replacing needs `overwrite`, else 409 file-exists),
// records its blob, audits.
Result<FileRow> put_file(db::Tx& tx, const Actor& actor, FileRow f, bool overwrite, Millis now);
Status delete_file(db::Tx& tx, const Actor& actor, const FileRow& f, Millis now);
Result<FileRow> move_file(db::Tx& tx, const Actor& actor, const FileRow& f, const std::string& to, bool overwrite,
                          Millis now);

// ---- uploads
Status insert_upload(db::Tx& tx, const Actor& actor, const UploadRow& u, Millis now);
Result<std::optional<UploadRow>> get_upload(db::Tx& tx, const std::string& id);
Result<std::vector<UploadRow>> list_uploads(db::Tx& tx, const std::string& project_id, const std::string& user_id,
                                            const std::string& after, int limit);
// Records a received chunk: only if the row still has `from_offset` (else 409 offset-mismatch).
Status advance_upload(db::Tx& tx, const std::string& id, std::int64_t from_offset, std::int64_t offset,
                      std::int64_t staged_bytes, Millis now, Millis expires);
Status delete_upload(db::Tx& tx, const std::string& id);
// What the uploads in progress still claim on the data disk: each one's rest arrives in staging,
// then becomes a blob of its size (twice its size at the end, less what was received).
Result<std::int64_t> uploads_claimed_bytes(db::Tx& tx);
// Uploads whose time has run out.
Result<std::vector<std::string>> expired_uploads(db::Tx& tx, Millis now);

// ---- storage usage, counted once per blob for each owner ("org", "group" or "user" in an org),
// plus the declared size of that owner's uploads in progress (reserved before they are sent).
Result<std::int64_t> storage_used(db::Tx& tx, const std::string& org_id, const std::string& kind,
                                  const std::string& subject_id);
// The same per project of an org (each blob once per project; a blob two projects hold counts in
// both), by project id: what GET /api/v1/orgs/{org}/usage shows. Projects without data are left out.
Result<std::map<std::string, std::int64_t>> storage_by_project(db::Tx& tx, const std::string& org_id);
// The 507 quota-exceeded error if adding `bytes` (new data) for the file's owners passes a limit:
// against the storage every module counts (`quotas`: data files, images, homes); without a
// registry, against the data store's own count.
Status check_storage_quota(db::Tx& tx, const quota::Registry* quotas, const std::string& org_id,
                           const std::string& group_id, const std::string& user_id, std::int64_t bytes);

// ---- signed links: an expiring (optionally one-time) download link for the blob a file had when
// the link was made; revocable; every use audited.
struct LinkRow {
  std::string id, project_id, org_id, path, blob_id, created_by;
  std::string dataset_id;   // set: a link to a whole dataset version (path and blob_id empty)
  std::int64_t number = 0;  //   and its number
  std::int64_t size = 0, uses = 0;
  Millis created = 0, expires = 0, revoked = 0;  // revoked 0 = live
  bool one_time = false;
  std::int64_t version = 1;
  nlohmann::json json() const;
};
Status insert_link(db::Tx& tx, const Actor& actor, const LinkRow& l, Millis now);
Result<std::optional<LinkRow>> get_link(db::Tx& tx, const std::string& id);
Result<std::vector<LinkRow>> list_links(db::Tx& tx, const std::string& project_id, const std::string& after, int limit);
Status revoke_link(db::Tx& tx, const Actor& actor, const LinkRow& l, Millis now);
// Counts a use (refused once a one-time link is used, or the link is expired or revoked) and
// audits it with `what` (the range, the file of a dataset version).
Status use_link(db::Tx& tx, const Actor& actor, const LinkRow& l, const std::string& what, Millis now);

// ---- datasets: named, immutable, numbered versions of a manifest (path -> blob, size)
struct DatasetRow {
  std::string id, project_id, org_id, group_id, name, description, created_by;
  Millis created = 0;
  std::int64_t latest = 0;  // the newest version's number, 0 = none yet
  std::int64_t version = 1;
  nlohmann::json json() const;
};
struct ManifestEntry {
  std::string path, blob_id;
  std::int64_t size = 0;
};
// Whose storage a job's captured outputs count against (its org, group and submitter).
struct StorageOwner {
  std::string org_id, group_id, user_id;
};
Result<DatasetRow> create_dataset(db::Tx& tx, const Actor& actor, DatasetRow d, Millis now);
Result<std::optional<DatasetRow>> get_dataset(db::Tx& tx, const std::string& id);
Result<std::optional<DatasetRow>> get_dataset_by_name(db::Tx& tx, const std::string& project_id, const std::string& name);
Result<std::vector<DatasetRow>> list_datasets(db::Tx& tx, const std::string& project_id, const std::string& after,
                                              int limit);
// Records version latest + 1 with these entries (in path order); the version as JSON.
Result<nlohmann::json> add_version(db::Tx& tx, const Actor& actor, const DatasetRow& d,
                                   const std::vector<ManifestEntry>& entries, const std::string& message,
                                   const nlohmann::json& provenance, Millis now);
Result<std::optional<nlohmann::json>> get_version(db::Tx& tx, const std::string& dataset_id, std::int64_t number);
Result<std::vector<nlohmann::json>> list_versions(db::Tx& tx, const std::string& dataset_id);
Result<std::vector<ManifestEntry>> version_entries(db::Tx& tx, const std::string& dataset_id, std::int64_t number,
                                                   const std::string& after, int limit);
Result<std::optional<ManifestEntry>> version_entry(db::Tx& tx, const std::string& dataset_id, std::int64_t number,
                                                   const std::string& path);

// ---- blobs, for garbage collection
// Blobs no file or live link refers to whose last reference ended (or which were stored) before
// `before`.
Result<std::vector<std::string>> unreferenced_blobs(db::Tx& tx, Millis before, int limit);
Result<bool> blob_known(db::Tx& tx, const std::string& id);
// A blob's recorded size (0 for an unknown blob).
Result<std::int64_t> blob_size(db::Tx& tx, const std::string& id);
// Records the blobs as referenced now (they stay out of collection for the grace period).
Status touch_blobs(db::Tx& tx, const std::vector<ManifestEntry>& entries, Millis now);
// Deletes the row of blob `id` if it is (still) unreferenced since before `before`; whether it did.
Result<bool> forget_unreferenced_blob(db::Tx& tx, const std::string& id, Millis before);

}  // namespace atrium::data
