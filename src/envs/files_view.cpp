#include "envs/files_view.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <set>
#include <shared_mutex>
#include <vector>

#include <spdlog/spdlog.h>

#include "audit/audit.hpp"
#include "core/dir.hpp"
#include "core/files.hpp"
#include "core/io_thread.hpp"
#include "data/paths.hpp"
#include "data/service.hpp"
#include "data/store.hpp"
#include "envs/store_view.hpp"
#include "projects/projects.hpp"

namespace atrium::envs {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr std::size_t kMaxFiles = 100'000;  // entries one view may hold

std::int64_t ctime_ns(const struct stat& st) {
  return static_cast<std::int64_t>(st.st_ctim.tv_sec) * 1'000'000'000LL + st.st_ctim.tv_nsec;
}

std::string project_path(const std::string& prefix, const std::string& rel) {
  return prefix.empty() ? rel : prefix + "/" + rel;
}

std::string view_prefix(const EnvRecord& e) {
  auto it = e.spec.find("view");
  return it != e.spec.end() && it->is_object() ? it->value("prefix", std::string()) : std::string();
}

// Files written back in a sync are the environment's owner's.
Actor owner_actor(const EnvRecord& e) { return Actor{e.user_id, "", "", "env-sync:" + e.id, ""}; }

Status hand_over(int fd, std::uint32_t uid, const std::string& what) {
  if (::fchmod(fd, 0644) != 0 || (::geteuid() == 0 && ::fchown(fd, uid, uid) != 0))
    return internal("cannot hand over " + what + ": " + std::strerror(errno));
  return {};
}

}  // namespace

json SyncReport::json() const {
  return nlohmann::json{{"why", why},
                        {"at", format_rfc3339(at)},
                        {"took_ms", took_ms},
                        {"added", added},
                        {"updated", updated},
                        {"deleted", deleted},
                        {"unchanged", unchanged},
                        {"bytes", bytes},
                        {"conflicts", conflicts},
                        {"not_synced", not_synced},
                        {"error", error.empty() ? nlohmann::json(nullptr) : nlohmann::json(error)},
                        {"complete", complete()}};
}

struct FilesView::Walked {
  Dir root;
  std::map<std::string, ViewEntry> recorded;  // by path in the view
  struct Found {
    std::string rel;
    struct stat st;
  };
  std::vector<Found> changed;     // regular files of the env's uid, new or changed since recorded
  std::set<std::string> present;  // every non-directory entry of the view
};

FilesView::FilesView(db::Database& db, const Clock& clock, fs::path envs_dir, data::Service* data)
    : db_(db), clock_(clock), envs_dir_(std::move(envs_dir)), data_(data) {}

Status FilesView::start() {
  auto all = TRY(db_.read([&](db::Tx& tx) { return sync_reports(tx); }));
  std::lock_guard lk(mu_);
  reports_ = std::move(all);
  return {};
}

std::shared_ptr<std::mutex> FilesView::lock_of(const std::string& env_id) {
  std::lock_guard lk(mu_);
  auto& p = locks_[env_id];
  if (!p) p = std::make_shared<std::mutex>();
  return p;
}

json FilesView::last_report(const std::string& env_id) const {
  std::lock_guard lk(mu_);
  auto it = reports_.find(env_id);
  return it == reports_.end() ? json(nullptr) : it->second;
}

Result<std::string> FilesView::materialize(const EnvRecord& e, std::uint32_t uid) {
  if (!data_) return fail(ErrorCode::kFailedPrecondition, "no-files-view", "this server has no data store for views");
  auto lock = lock_of(e.id);
  std::lock_guard g(*lock);
  const Stopwatch took;
  const std::string prefix = view_prefix(e);
  const Owner owner{uid, uid};
  Dir env_dir = TRY(TRY(Dir::open(envs_dir_)).make_dirs(e.id, 0711));
  if (auto st = TRY(env_dir.stat("files")); st && S_ISDIR(st->st_mode)) return view_dir(e.id).string();
  std::vector<data::FileRow> files;
  std::int64_t total = 0, room = 0;
  TRY_STATUS(db_.read([&](db::Tx& tx) -> Status {
    for (std::string after;;) {
      auto page = TRY(data::list_files(tx, e.project_id, prefix, after, 1000));
      for (auto& f : page) total += f.size;
      files.insert(files.end(), page.begin(), page.end());
      if (page.size() < 1000 || files.size() > kMaxFiles) break;
      after = page.back().path;
    }
    room = TRY(data_->disk_room(tx));
    return {};
  }));
  if (files.size() > kMaxFiles)
    return fail(ErrorCode::kInvalidArgument, "too-many-files",
                "the project has more than " + std::to_string(kMaxFiles) + " files there; choose a prefix (files)");
  if (total > room)
    return fail(ErrorCode::kResourceExhausted, "insufficient-storage",
                "the project's files take " + std::to_string(total) + " bytes; the data disk has room for " +
                    std::to_string(std::max<std::int64_t>(room, 0)));
  // Filled beside, then renamed into place: "files" is there only whole.
  Dir tmp = TRY(env_dir.make_fresh(".files-new", 0700, owner));
  std::vector<std::pair<std::string, ViewEntry>> entries;
  for (auto& f : files) {
    std::string rel = prefix.empty() ? f.path : f.path.substr(prefix.size() + 1);
    if (auto slash = rel.rfind('/'); slash != std::string::npos) TRY(tmp.make_dirs(rel.substr(0, slash), 0755, owner));
    Fd fd = TRY(tmp.open_file(rel, O_WRONLY | O_CREAT | O_EXCL, 0644));
    TRY_STATUS(data_->blobs().read(f.blob_id, 0, -1, [&](std::string_view p) { return write_all(fd.get(), p); }));
    TRY_STATUS(hand_over(fd.get(), uid, tmp.path() + "/" + rel));
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return internal("stat of " + rel + ": " + std::strerror(errno));
    entries.push_back({rel, ViewEntry{f.blob_id, st.st_size, ctime_ns(st)}});
  }
  TRY_STATUS(db_.write([&](db::Tx& tx) -> Status {
    TRY_STATUS(drop_view(tx, e.id));
    for (auto& [rel, v] : entries) TRY_STATUS(put_view_entry(tx, e.id, rel, v));
    return {};
  }));
  if (::renameat(env_dir.fd(), ".files-new", env_dir.fd(), "files") != 0)
    return internal("placing the view of " + e.id + ": " + std::strerror(errno));
  spdlog::info("env {}: project view of {} files ({} bytes) materialised in {} ms", e.id, entries.size(), total,
               took.millis());
  return view_dir(e.id).string();
}

Result<FilesView::Walked> FilesView::walk(const EnvRecord& e, std::uint32_t uid, const std::string& prefix,
                                          SyncReport& rep) {
  Walked w{TRY(TRY(Dir::open(envs_dir_ / e.id)).dir("files")), {}, {}, {}};
  w.recorded = TRY(db_.read([&](db::Tx& tx) { return view_entries(tx, e.id); }));
  const std::string base = w.root.path() + "/";
  auto skip = [&](const std::string& path, const char* reason, const std::string& detail) -> Status {
    rep.not_synced.push_back({{"path", path}, {"reason", reason}, {"detail", detail}});
    return {};
  };
  TRY_STATUS(w.root.walk([&](const Dir& d, const std::string& name, const struct stat& st) -> Status {
    if (S_ISDIR(st.st_mode)) return {};
    std::string rel = d.path().size() > w.root.path().size() ? d.path().substr(base.size()) + "/" + name : name;
    w.present.insert(rel);
    if (w.present.size() > kMaxFiles)
      return fail(ErrorCode::kInvalidArgument, "too-many-files",
                  "the view holds more than " + std::to_string(kMaxFiles) + " files");
    std::string path = project_path(prefix, rel);
    if (S_ISLNK(st.st_mode)) return skip(path, "symlink", "a link is never followed nor stored");
    if (!S_ISREG(st.st_mode)) return skip(path, "special-file", "only regular files are synced");
    if (st.st_uid != uid) return skip(path, "not-owned", "not the environment's own file");
    auto norm = data::normalize_path(path);
    if (!norm || *norm != path)
      return skip(path, "invalid-path", norm ? "not the canonical spelling " + *norm : norm.error().detail);
    auto r = w.recorded.find(rel);
    if (r != w.recorded.end() && r->second.size == st.st_size && r->second.ctime_ns == ctime_ns(st))
      ++rep.unchanged;
    else
      w.changed.push_back({rel, st});
    return {};
  }));
  return w;
}

// A changed file stored as a blob, waiting for its transaction.
struct FilesView::Stored {
  std::string rel, path;
  data::BlobInfo info;
  std::int64_t ctime_ns = 0;
};

// Each new or changed file: checked, stored as a blob, then put at its project path in batches of
// one transaction (which looks first at what the project has there now).
Status FilesView::ingest(const EnvRecord& e, std::uint32_t uid, const std::string& prefix, Walked& w,
                         SyncReport& rep) {
  constexpr std::size_t kBatch = 256;  // files per transaction
  const data::Settings& ds = data_->settings();
  std::int64_t room = TRY(db_.read([&](db::Tx& tx) { return data_->disk_room(tx); }));
  // Against garbage collection from a blob's storing to its file row.
  expect_blocking_allowed("data::Service::gc_mu_");
  std::shared_lock gc_lock(data_->gc_mutex());
  std::string buf(1 << 20, '\0');
  std::vector<Stored> batch;
  std::int64_t pending = 0;  // bytes stored for the batch, not yet counted by the quota's usage
  // All of them within the quotas (the usual case): one check instead of one per file.
  std::int64_t all = 0;
  for (auto& c : w.changed) all += c.st.st_size;
  const bool all_fit = db_.read([&](db::Tx& tx) {
                         return data::check_storage_quota(tx, data_->quotas(), e.org_id, e.group_id, e.user_id, all);
                       }).has_value();
  for (auto& c : w.changed) {
    const std::string path = project_path(prefix, c.rel);
    auto skip = [&](const char* reason, const std::string& detail) {
      rep.not_synced.push_back({{"path", path}, {"reason", reason}, {"detail", detail}});
    };
    const std::int64_t size = c.st.st_size;
    if (size > ds.max_file_bytes) {
      skip("file-too-large", std::to_string(size) + " bytes, over data.max_file_bytes (" +
                                 std::to_string(ds.max_file_bytes) + ")");
      continue;
    }
    if (size > room) {
      skip("insufficient-storage", "the data disk has room for " + std::to_string(std::max<std::int64_t>(room, 0)) +
                                       " more bytes (after data.reserve_bytes)");
      continue;
    }
    if (auto q = all_fit ? Status{} : db_.read([&](db::Tx& tx) {
          return data::check_storage_quota(tx, data_->quotas(), e.org_id, e.group_id, e.user_id, pending + size);
        });
        !q) {
      skip("quota-exceeded", q.error().detail);
      continue;
    }
    // Opened beneath the view without following links; O_NONBLOCK: a FIFO swapped in cannot stall.
    auto fd = w.root.open_file(c.rel, O_RDONLY | O_NONBLOCK);
    struct stat st {};
    if (!fd || ::fstat(fd->get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != uid) {
      skip("changed", "replaced while it was synced; the next sync looks again");
      continue;
    }
    if (st.st_size > size) {
      skip("changed", "grew while it was synced; the next sync looks again");
      continue;
    }
    auto writer = TRY(data_->blobs().writer());
    for (std::int64_t left = st.st_size; left > 0;) {
      ssize_t n = ::read(fd->get(), buf.data(), static_cast<std::size_t>(std::min<std::int64_t>(left, buf.size())));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return internal("reading " + c.rel + " of the view: " + std::strerror(errno));
      if (n == 0) break;
      TRY_STATUS(writer.write(std::string_view(buf.data(), static_cast<std::size_t>(n))));
      left -= n;
    }
    auto info = TRY(writer.finish());
    room -= info.existed ? 0 : info.size;
    pending += info.size;
    batch.push_back({c.rel, path, info, ctime_ns(st)});
    if (batch.size() >= kBatch) {
      TRY_STATUS(commit(e, w, batch, rep));
      pending = 0;
    }
  }
  return commit(e, w, batch, rep);
}

// One transaction for a batch of stored files: each put at its path unless that is a conflict.
Status FilesView::commit(const EnvRecord& e, const Walked& w, std::vector<Stored>& batch, SyncReport& rep) {
  if (batch.empty()) return {};
  SyncReport counts;  // applied to `rep` once committed
  TRY_STATUS(db_.write([&](db::Tx& tx) -> Status {
    counts = SyncReport{};
    for (auto& b : batch) {
      auto cur = TRY(data::get_file(tx, e.project_id, b.path));
      auto rec = w.recorded.find(b.rel);
      const ViewEntry now{b.info.id, b.info.size, b.ctime_ns};
      if (cur && cur->blob_id == b.info.id) {  // the project has this content there already
        ++counts.unchanged;
        TRY_STATUS(put_view_entry(tx, e.id, b.rel, now));
        continue;
      }
      if (cur && (rec == w.recorded.end() || cur->blob_id != rec->second.blob_id)) {
        counts.conflicts.push_back(
            {{"path", b.path},
             {"reason", rec == w.recorded.end() ? "the project has another file at this path"
                                                : "changed in the project since it was materialised"},
             {"detail", "the environment's copy was not written back; rename it there to keep both"}});
        continue;
      }
      data::FileRow f;
      f.project_id = e.project_id;
      f.path = b.path;
      f.org_id = e.org_id;
      f.group_id = e.group_id;
      f.owner_id = e.user_id;
      f.blob_id = b.info.id;
      f.size = b.info.size;
      TRY(data::put_file(tx, owner_actor(e), f, cur.has_value(), clock_.now_ms()));
      ++(cur ? counts.updated : counts.added);
      counts.bytes += b.info.size;
      TRY_STATUS(put_view_entry(tx, e.id, b.rel, now));
    }
    return {};
  }));
  batch.clear();
  rep.unchanged += counts.unchanged;
  rep.added += counts.added;
  rep.updated += counts.updated;
  rep.bytes += counts.bytes;
  for (auto& c : counts.conflicts) rep.conflicts.push_back(c);
  return {};
}

// Recorded files gone from the view (one transaction): deleted only where the project still has
// what was materialised.
Status FilesView::deletions(const EnvRecord& e, const std::string& prefix, Walked& w, SyncReport& rep) {
  SyncReport counts;  // applied to `rep` once committed
  TRY_STATUS(db_.write([&](db::Tx& tx) -> Status {
    counts = SyncReport{};
    for (auto& [rel, v] : w.recorded) {
      if (w.present.contains(rel)) continue;
      const std::string path = project_path(prefix, rel);
      auto cur = TRY(data::get_file(tx, e.project_id, path));
      if (cur && cur->blob_id == v.blob_id) {
        TRY_STATUS(data::delete_file(tx, owner_actor(e), *cur, clock_.now_ms()));
        ++counts.deleted;
      } else if (cur) {
        counts.conflicts.push_back({{"path", path},
                                    {"reason", "changed in the project since it was materialised"},
                                    {"detail", "deleted in the environment; the project keeps its file"}});
      }
      TRY_STATUS(drop_view_entry(tx, e.id, rel));
    }
    return {};
  }));
  rep.deleted += counts.deleted;
  for (auto& c : counts.conflicts) rep.conflicts.push_back(c);
  return {};
}

Result<SyncReport> FilesView::sync(const EnvRecord& e, std::uint32_t uid, const Actor& actor, const std::string& why) {
  if (!data_ || !e.spec.contains("view"))
    return fail(ErrorCode::kFailedPrecondition, "no-files-view",
                "the environment was launched without the project's files (launch with files)");
  auto lock = lock_of(e.id);
  std::lock_guard g(*lock);
  const Stopwatch took;
  SyncReport rep;
  rep.why = why;
  rep.at = clock_.now_ms();
  const std::string prefix = view_prefix(e);
  auto ran = [&]() -> Status {
    auto p = TRY(db_.read([&](db::Tx& tx) { return projects::get(tx, e.project_id); }));
    if (!p) return fail(ErrorCode::kNotFound, "not-found", "the project is gone");
    if (p->archived) return fail(ErrorCode::kFailedPrecondition, "project-archived", "the project is archived");
    auto w = TRY(walk(e, uid, prefix, rep));
    TRY_STATUS(ingest(e, uid, prefix, w, rep));
    return deletions(e, prefix, w, rep);
  }();
  if (!ran) rep.error = ran.error().detail;
  rep.took_ms = took.millis();
  json j = rep.json();
  TRY_STATUS(db_.write([&](db::Tx& tx) -> Status {
    TRY_STATUS(put_sync_report(tx, e.id, rep.at, j));
    json summary = {{"why", why},         {"added", rep.added},         {"updated", rep.updated},
                    {"deleted", rep.deleted}, {"unchanged", rep.unchanged}, {"bytes", rep.bytes},
                    {"conflicts", rep.conflicts.size()}, {"not_synced", rep.not_synced.size()}};
    if (!rep.error.empty()) summary["error"] = rep.error;
    return audit::record(tx, actor, {e.org_id, "env.sync", "env", e.id, summary}, rep.at);
  }));
  std::lock_guard lk(mu_);
  reports_[e.id] = std::move(j);
  return rep;
}

void FilesView::finish(const EnvRecord& e, std::uint32_t uid) {
  if (!data_ || !e.spec.contains("view")) return;
  auto dir = Dir::open(envs_dir_ / e.id);
  if (!dir) return;
  auto there = dir->stat("files");
  if (!there || !*there) return;  // never materialised, or removed already
  auto rep = sync(e, uid, owner_actor(e), "stop");
  if (!rep || !rep->complete()) {
    spdlog::warn("env {}: its project view is kept at {}: {}", e.id, view_dir(e.id).string(),
                 rep ? "something was left unsynced" : rep.error().detail);
    return;
  }
  if (auto st = dir->remove("files"); !st) spdlog::warn("env {}: removing its view: {}", e.id, st.error().detail);
  auto lock = lock_of(e.id);
  std::lock_guard g(*lock);
  if (auto st = db_.write([&](db::Tx& tx) { return drop_view(tx, e.id); }); !st)
    spdlog::warn("env {}: {}", e.id, st.error().detail);
}

Result<std::int64_t> tree_bytes(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(fs::symlink_status(dir, ec))) return 0;
  Dir d = TRY(Dir::open(dir));
  std::int64_t total = 0;
  std::set<std::pair<dev_t, ino_t>> seen;  // files with several links: counted once
  TRY_STATUS(d.walk([&](const Dir&, const std::string&, const struct stat& st) -> Status {
    if (!S_ISDIR(st.st_mode) && st.st_nlink > 1 && !seen.insert({st.st_dev, st.st_ino}).second) return {};
    total += static_cast<std::int64_t>(st.st_blocks) * 512;
    return {};
  }));
  return total;
}

}  // namespace atrium::envs
