#include "data/service.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>

#include "core/crypto.hpp"
#include "core/dir.hpp"
#include "core/files.hpp"
#include "core/io_thread.hpp"
#include "data/paths.hpp"

namespace atrium::data {
namespace fs = std::filesystem;

nlohmann::json GcReport::json() const {
  return {{"dry_run", dry_run},
          {"blobs", blobs},
          {"bytes", bytes},
          {"orphan_objects", orphan_objects},
          {"expired_uploads", expired_uploads},
          {"staging_files", staging_files},
          {"materialized", materialized}};
}

Service::Service(db::Database& db, const Clock& clock, BlobStore& blobs, Settings s)
    : db_(db), clock_(clock), blobs_(blobs), settings_(std::move(s)), link_key_(blobs.key().derive("signed links")) {}

std::string Service::link_token(const LinkRow& l) const {
  std::string msg = l.id + "\n" + l.project_id + "\n" + l.path + "\n" + l.blob_id + "\n" + l.dataset_id + "\n" +
                    std::to_string(l.number) + "\n" + std::to_string(l.expires) + "\n" + (l.one_time ? "1" : "0");
  return l.id + "." + crypto::base64url(crypto::hmac_sha256(link_key_, msg));
}

fs::path Service::staging_file(const std::string& upload_id) const { return settings_.staging_dir / upload_id; }

Service::UploadLock::UploadLock(Service& s, std::string id) : s_(s), id_(std::move(id)) {
  std::lock_guard lock(s_.busy_mu_);
  held_ = s_.busy_.insert(id_).second;
}

Service::UploadLock::~UploadLock() {
  if (!held_) return;
  std::lock_guard lock(s_.busy_mu_);
  s_.busy_.erase(id_);
}

namespace {

bool server_is_root() { return ::geteuid() == 0; }

// A plaintext copy's name under datasets_dir: "<dataset id>.<version>.<uid>".
std::string copy_name(const std::string& dataset_id, std::int64_t number, std::int64_t uid) {
  return dataset_id + "." + std::to_string(number) + "." + std::to_string(uid);
}

struct CopyKey {
  std::string dataset_id;
  std::int64_t number = 0, uid = 0;
};

std::optional<CopyKey> parse_copy_name(const std::string& name) {
  auto num = [](std::string_view t, std::int64_t& out) {
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), out);
    return !t.empty() && ec == std::errc() && p == t.data() + t.size() && out >= 0;
  };
  auto b = name.rfind('.');
  if (b == std::string::npos || b == 0) return std::nullopt;
  auto a = name.rfind('.', b - 1);
  if (a == std::string::npos || a == 0) return std::nullopt;
  CopyKey k;
  k.dataset_id = name.substr(0, a);
  if (!num(std::string_view(name).substr(a + 1, b - a - 1), k.number) ||
      !num(std::string_view(name).substr(b + 1), k.uid))
    return std::nullopt;
  return k;
}

// Removes a copy (or a temp directory) beneath `root`. Its directories are 0550: an unprivileged
// server (tests) opens them up first; root needs no permission bits.
Status remove_copy(const Dir& root, const std::string& name) {
  if (!server_is_root()) {
    if (auto d = root.dir(name)) {
      (void)d->walk([](const Dir& p, const std::string& n, const struct stat& st) -> Status {
        if (S_ISDIR(st.st_mode)) ::fchmodat(p.fd(), n.c_str(), 0700, 0);
        return {};
      });
      (void)d->chmod(0700);
    }
  }
  return root.remove(name);
}

}  // namespace

Result<std::string> Service::materialize(const std::string& dataset_id, std::int64_t number, std::int64_t uid) {
  expect_blocking_allowed("data::Service::materialize_mu_");
  std::lock_guard lock(materialize_mu_);
  // Only the server lists or changes this directory; a job's uid reaches its own copy only.
  Dir root = TRY(Dir::open_or_create(settings_.datasets_dir, 0711));
  TRY_STATUS(root.chmod(0711));
  const std::string name = copy_name(dataset_id, number, uid);
  const std::string final_path = (settings_.datasets_dir / name).string();
  if (auto st = TRY(root.stat(name)); st && S_ISDIR(st->st_mode)) return final_path;
  std::vector<ManifestEntry> entries;
  std::string after;
  for (;;) {
    auto page = TRY(db_.read([&](db::Tx& tx) { return version_entries(tx, dataset_id, number, after, 10000); }));
    entries.insert(entries.end(), page.begin(), page.end());
    if (page.size() < 10000) break;
    after = page.back().path;
  }
  if (entries.empty() && !TRY(db_.read([&](db::Tx& tx) { return get_version(tx, dataset_id, number); })))
    return not_found("dataset version");
  const std::string tmp = ".tmp-" + crypto::hex(crypto::random_bytes(6));
  const Owner owner{0, static_cast<std::uint32_t>(uid)};
  auto build = [&]() -> Status {
    Dir t = TRY(root.make_dirs(tmp, 0700));
    for (auto& e : entries) {
      auto slash = e.path.rfind('/');
      if (slash != std::string::npos) TRY(t.make_dirs(e.path.substr(0, slash), 0700));
      Fd fd = TRY(t.open_file(e.path, O_WRONLY | O_CREAT | O_EXCL, 0600));
      TRY_STATUS(blobs_.read(e.blob_id, 0, -1, [&](std::string_view p) { return write_all(fd.get(), p); }));
      if (::fchmod(fd.get(), 0440) != 0 || (server_is_root() && ::fchown(fd.get(), owner.uid, owner.gid) != 0))
        return internal("cannot hand over " + t.path() + "/" + e.path + ": " + std::strerror(errno));
    }
    // Directories: readable and searchable by the job's uid through the group, owned by root so
    // that uid cannot change its copy (outside the read-only mount either).
    TRY_STATUS(t.walk([&](const Dir& d, const std::string& n, const struct stat& st) -> Status {
      if (!S_ISDIR(st.st_mode)) return {};
      if ((server_is_root() && ::fchownat(d.fd(), n.c_str(), owner.uid, owner.gid, AT_SYMLINK_NOFOLLOW) != 0) ||
          ::fchmodat(d.fd(), n.c_str(), 0550, 0) != 0)
        return internal("cannot hand over " + d.path() + "/" + n + ": " + std::strerror(errno));
      return {};
    }));
    TRY_STATUS(t.chown(owner));
    return t.chmod(0550);
  };
  if (auto st = build(); !st) {
    (void)remove_copy(root, tmp);
    return std::unexpected(st.error());
  }
  if (::renameat(root.fd(), tmp.c_str(), root.fd(), name.c_str()) != 0) {
    int err = errno;
    (void)remove_copy(root, tmp);
    return internal("placing " + final_path + ": " + std::strerror(err));
  }
  return final_path;
}

Status Service::release(const std::string& dataset_id, std::int64_t number, std::int64_t uid) {
  expect_blocking_allowed("data::Service::materialize_mu_");
  std::lock_guard lock(materialize_mu_);
  std::error_code ec;
  if (!fs::is_directory(settings_.datasets_dir, ec)) return {};
  if (settings_.version_in_use && TRY(settings_.version_in_use(dataset_id, number, uid))) return {};
  Dir root = TRY(Dir::open(settings_.datasets_dir));
  return remove_copy(root, copy_name(dataset_id, number, uid));
}

Result<std::int64_t> Service::sweep_materialized(bool dry_run) {
  expect_blocking_allowed("data::Service::materialize_mu_");
  std::lock_guard lock(materialize_mu_);
  std::error_code ec;
  if (!settings_.version_in_use || !fs::is_directory(settings_.datasets_dir, ec)) return 0;
  Dir root = TRY(Dir::open(settings_.datasets_dir));
  std::vector<std::string> names;  // names only: every change goes through `root`
  for (auto& e : fs::directory_iterator(settings_.datasets_dir, ec)) names.push_back(e.path().filename().string());
  std::int64_t n = 0;
  for (auto& name : names) {
    auto key = parse_copy_name(name);  // anything else: a temp directory or an older layout
    if (key && TRY(settings_.version_in_use(key->dataset_id, key->number, key->uid))) continue;
    ++n;
    if (!dry_run) TRY_STATUS(remove_copy(root, name));
  }
  return n;
}

Result<std::vector<ManifestEntry>> Service::capture(const fs::path& workspace, std::int64_t uid,
                                                    const std::vector<std::string>& globs, const StorageOwner& owner) {
  constexpr std::size_t kMaxFiles = 100'000;
  const Stopwatch took;
  auto refused = [](ErrorCode code, const std::string& type, const std::string& why) {
    return fail(code, type, "outputs not captured: " + why);
  };
  auto in_time = [&]() -> Status {
    if (took.millis() <= settings_.capture_timeout) return {};
    return refused(ErrorCode::kResourceExhausted, "capture-timeout",
                   "capturing took longer than " + std::to_string(settings_.capture_timeout / 1000) +
                       " s (data.capture_timeout_s)");
  };
  auto owned = [&](const struct stat& st) {
    return static_cast<std::int64_t>(st.st_uid) == uid || (::geteuid() != 0 && st.st_uid == ::geteuid());
  };
  // Room on the disk first: sizes add up against it as they are found, so a tree of huge sparse
  // files is refused without reading any of it.
  const std::int64_t room = TRY(db_.read([&](db::Tx& tx) { return disk_room(tx); }));
  Dir root = TRY(Dir::open(workspace));
  const std::string prefix = root.path() + "/";
  struct Match {
    std::string rel, path;
    std::int64_t size;
  };
  std::vector<Match> matches;
  std::int64_t total = 0;
  TRY_STATUS(root.walk([&](const Dir& d, const std::string& name, const struct stat& st) -> Status {
    TRY_STATUS(in_time());
    if (!S_ISREG(st.st_mode) || !owned(st)) return {};
    std::string rel = d.path().size() > root.path().size() ? d.path().substr(prefix.size()) + "/" + name : name;
    bool match = false;
    for (auto& g : globs) match = match || ::fnmatch(g.c_str(), rel.c_str(), FNM_PATHNAME) == 0;
    auto path = normalize_path(rel);
    if (!match || !path) return {};
    if (matches.size() >= kMaxFiles)
      return refused(ErrorCode::kInvalidArgument, "too-many-files",
                     "the outputs match more than " + std::to_string(kMaxFiles) + " files");
    if (st.st_size > settings_.max_file_bytes)
      return refused(ErrorCode::kInvalidArgument, "file-too-large",
                     rel + " is " + std::to_string(st.st_size) + " bytes, over the largest file allowed (" +
                         std::to_string(settings_.max_file_bytes) + " bytes, data.max_file_bytes)");
    total += st.st_size;
    if (total > room)
      return refused(ErrorCode::kQuotaExceeded, "insufficient-storage",
                     "the outputs hold at least " + std::to_string(total) + " bytes; the data disk has room for " +
                         std::to_string(std::max<std::int64_t>(0, room)) + " more (after data.reserve_bytes)");
    matches.push_back({rel, *path, st.st_size});
    return {};
  }));
  if (auto q = db_.read(
          [&](db::Tx& tx) { return check_storage_quota(tx, quotas_, owner.org_id, owner.group_id, owner.user_id, total); });
      !q)
    return refused(q.error().code, q.error().type, q.error().detail);

  // Against garbage collection until the blobs are marked as just referenced (below): the job's
  // end then records the version well within the grace period.
  expect_blocking_allowed("data::Service::gc_mu_");
  std::shared_lock gc_lock(gc_mu_);
  std::vector<ManifestEntry> out;
  std::string buf(1 << 20, '\0');
  for (auto& m : matches) {
    TRY_STATUS(in_time());
    // Opened beneath the workspace without following links; O_NONBLOCK: a FIFO put in the file's
    // place cannot stall the capture. Gone or replaced since the walk: not an output.
    auto fd = root.open_file(m.rel, O_RDONLY | O_NONBLOCK);
    if (!fd) continue;
    struct stat st {};
    if (::fstat(fd->get(), &st) != 0 || !S_ISREG(st.st_mode) || !owned(st)) continue;
    if (st.st_size > m.size)
      return refused(ErrorCode::kFailedPrecondition, "changed", m.rel + " grew while its outputs were captured");
    auto w = TRY(blobs_.writer());
    std::int64_t left = st.st_size;  // never more than was measured and allowed
    while (left > 0) {
      TRY_STATUS(in_time());
      ssize_t n = ::read(fd->get(), buf.data(), static_cast<std::size_t>(std::min<std::int64_t>(left, buf.size())));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return internal("reading " + m.rel + ": " + std::strerror(errno));
      if (n == 0) break;
      TRY_STATUS(w.write(std::string_view(buf.data(), static_cast<std::size_t>(n))));
      left -= n;
    }
    auto info = TRY(w.finish());
    out.push_back({m.path, info.id, info.size});
  }
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.path < b.path; });
  TRY_STATUS(db_.write_tx([&](db::Tx& tx) { return touch_blobs(tx, out, clock_.now_ms()); }));
  return out;
}

Result<std::int64_t> Service::disk_room(db::Tx& tx) {
  struct statvfs st {};
  std::error_code ec;
  fs::create_directories(settings_.staging_dir, ec);
  if (::statvfs(settings_.staging_dir.c_str(), &st) != 0)
    return internal("cannot read the free space of the data disk");
  auto free_bytes = static_cast<std::int64_t>(st.f_bavail) * static_cast<std::int64_t>(st.f_frsize);
  // An upload's rest arrives in staging, then becomes a blob of its size: twice its size at the end.
  return free_bytes - settings_.reserve_bytes - TRY(uploads_claimed_bytes(tx));
}

Result<GcReport> Service::gc(bool dry_run) {
  GcReport rep;
  rep.dry_run = dry_run;
  Millis now = clock_.now_ms();
  // Expired uploads: the row goes first, then the staging file.
  auto expired = TRY(db_.read([&](db::Tx& tx) { return expired_uploads(tx, now); }));
  rep.expired_uploads = static_cast<std::int64_t>(expired.size());
  if (!dry_run)
    for (auto& id : expired) {
      UploadLock lock(*this, id);
      if (!lock.held()) continue;
      TRY_STATUS(db_.write_tx([&](db::Tx& tx) { return delete_upload(tx, id); }));
      std::error_code ec;
      fs::remove(staging_file(id), ec);
    }
  // Staging files no upload row owns (a crash between creating one and committing its row).
  std::error_code ec;
  if (fs::is_directory(settings_.staging_dir, ec))
    for (auto& e : fs::directory_iterator(settings_.staging_dir, ec)) {
      auto name = e.path().filename().string();
      auto known = TRY(db_.read([&](db::Tx& tx) -> Result<bool> { return TRY(get_upload(tx, name)).has_value(); }));
      if (known) continue;
      auto age = fs::last_write_time(e.path(), ec);
      if (ec || std::chrono::file_clock::now() - age < std::chrono::milliseconds(settings_.gc_grace)) continue;
      ++rep.staging_files;
      if (!dry_run) fs::remove(e.path(), ec);
    }
  // Blobs: exclusive against uploads being finished, so a blob that one of them deduplicates
  // against cannot disappear between its check and its file row.
  expect_blocking_allowed("data::Service::gc_mu_");
  std::unique_lock gc_lock(gc_mu_);
  auto ids = TRY(db_.read([&](db::Tx& tx) { return unreferenced_blobs(tx, now - settings_.gc_grace, 1 << 20); }));
  for (auto& id : ids) {
    auto sz = TRY(db_.read([&](db::Tx& tx) { return blob_size(tx, id); }));
    ++rep.blobs;
    rep.bytes += sz;
    if (dry_run) continue;
    // The row first: a crash after it leaves an unknown object, collected below next time.
    bool forgotten =
        TRY(db_.write([&](db::Tx& tx) { return forget_unreferenced_blob(tx, id, now - settings_.gc_grace); }));
    if (forgotten) TRY_STATUS(blobs_.remove(id));
  }
  // Plaintext copies of dataset versions that no running job mounts (normally removed when the
  // last such job ends; these are leftovers).
  rep.materialized = TRY(sweep_materialized(dry_run));
  // Objects the database has no row for, older than the grace period (a crash between storing a
  // blob and recording its file, or between forgetting a blob and removing it).
  for (auto& id : TRY(blobs_.list())) {
    if (TRY(db_.read([&](db::Tx& tx) { return blob_known(tx, id); }))) continue;
    auto age = TRY(blobs_.age_ms(id, now));
    if (age < settings_.gc_grace) continue;
    ++rep.orphan_objects;
    if (!dry_run) TRY_STATUS(blobs_.remove(id));
  }
  return rep;
}

}  // namespace atrium::data
