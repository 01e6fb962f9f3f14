// The project's files inside an environment: a writable view at /project, written back into the
// data store as the project's files.
//
// At its job's launch the project's files (those under the prefix chosen at launch; the view's
// root is that directory) are decrypted into <data_dir>/envs/<id>/files, owned by the env's uid
// (the directory 0700, files 0644), and each is recorded (env_view_files: its blob, the size and
// ctime the copy has). A sync walks the view through directory fds, never following a link
// (core/dir.hpp), and writes back what changed as the env's owner, with the files API's rules:
// - a regular file owned by the env's uid whose size or ctime moved, or a new one: stored as a
//   blob and put at its project path, if that path is canonical (data/paths.hpp), the file fits
//   data.max_file_bytes, the disk's room and the owner's storage quotas (else not synced, and
//   the report says why);
// - a recorded file gone from the view: deleted from the project if the project's file is still
//   the one materialised; else a conflict (the project keeps its file);
// - a file changed in both the view and the project since it was materialised (or new in both):
//   a conflict, nothing written, the view's copy kept (reported at each sync until resolved);
// - links, FIFOs, sockets and devices, and files not owned by the env's uid: never read, reported.
// Syncs run at the env's end, on POST /envs/{id}/sync and every envs.files_sync_s; one at a time
// per environment; each is audited (env.sync, with counts) and its report is kept (the env's JSON).
// At the end the view is removed unless something was left unsynced (then kept for recovery).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/actor.hpp"
#include "core/clock.hpp"
#include "core/error.hpp"
#include "db/database.hpp"
#include "envs/store.hpp"
#include "envs/store_view.hpp"

namespace atrium::data {
class Service;
}

namespace atrium::envs {

inline constexpr const char* kSandboxProjectDir = "/project";

struct SyncReport {
  std::string why;  // "stop", "request", "periodic"
  Millis at = 0, took_ms = 0;
  std::int64_t added = 0, updated = 0, deleted = 0, unchanged = 0, bytes = 0;
  nlohmann::json conflicts = nlohmann::json::array();   // {path, reason}
  nlohmann::json not_synced = nlohmann::json::array();  // {path, reason, detail}
  std::string error;                                    // the sync as a whole did not run
  nlohmann::json json() const;
  bool complete() const { return conflicts.empty() && not_synced.empty() && error.empty(); }
};

class FilesView {
 public:
  // `data` null: no views (launches asking for one are refused).
  FilesView(db::Database& db, const Clock& clock, std::filesystem::path envs_dir, data::Service* data);

  bool enabled() const { return data_ != nullptr; }
  // Loads the last reports (at startup).
  Status start();
  // The host directory to mount at /project for environment `e`, whose processes run as `uid`:
  // made and filled once per environment (a second call mounts what is there).
  Result<std::string> materialize(const EnvRecord& e, std::uint32_t uid);
  // Writes the view's changes back (see above); `actor` is audited for the sync itself.
  Result<SyncReport> sync(const EnvRecord& e, std::uint32_t uid, const Actor& actor, const std::string& why);
  // The environment ended: a last sync, then the view goes unless something was left unsynced.
  void finish(const EnvRecord& e, std::uint32_t uid);
  // The last sync's report (null when none yet).
  nlohmann::json last_report(const std::string& env_id) const;
  std::filesystem::path view_dir(const std::string& env_id) const { return envs_dir_ / env_id / "files"; }

 private:
  struct Walked;
  Result<Walked> walk(const EnvRecord& e, std::uint32_t uid, const std::string& prefix, SyncReport& rep);
  Status ingest(const EnvRecord& e, std::uint32_t uid, const std::string& prefix, Walked& w, SyncReport& rep);
  struct Stored;
  Status commit(const EnvRecord& e, const Walked& w, std::vector<Stored>& batch, SyncReport& rep);
  Status deletions(const EnvRecord& e, const std::string& prefix, Walked& w, SyncReport& rep);
  std::shared_ptr<std::mutex> lock_of(const std::string& env_id);

  db::Database& db_;
  const Clock& clock_;
  std::filesystem::path envs_dir_;
  data::Service* data_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<std::mutex>> locks_;  // GUARDED_BY(mu_): one sync per env
  std::map<std::string, nlohmann::json> reports_;              // GUARDED_BY(mu_)
};

// The bytes a directory tree takes on disk (allocated blocks; a file with several links counted
// once), walked through directory fds without following links. A missing directory is 0.
Result<std::int64_t> tree_bytes(const std::filesystem::path& dir);

}  // namespace atrium::envs
