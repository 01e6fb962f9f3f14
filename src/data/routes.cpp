#include "data/routes.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <dirent.h>
#include <fnmatch.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <chrono>

#include <algorithm>
#include <charconv>
#include <condition_variable>
#include <deque>
#include <thread>

#include "audit/audit.hpp"
#include "core/async.hpp"
#include "core/crypto.hpp"
#include "core/dir.hpp"
#include "core/files.hpp"
#include "core/ids.hpp"
#include "core/text.hpp"
#include "data/paths.hpp"
#include "data/store.hpp"
#include "data/uploads.hpp"
#include "projects/projects.hpp"
#include "projects/routes.hpp"

namespace atrium::data {
namespace fs = std::filesystem;
namespace {

using http::Access;
using http::Context;
using http::Response;
using http::Target;
using nlohmann::json;

constexpr std::size_t kPiece = 256 * 1024;

// ---- helpers shared by the routes

// The route's project ({id}), authorized for `perm`, in `tx`.
Result<projects::Project> load_project(Context& ctx, db::Tx& tx, const http::Permission& perm) {
  return projects::load_in_route(ctx, tx, perm);
}

Status writable(const projects::Project& p) { return projects::check_writable(p); }

Result<std::string> path_param(Context& ctx) { return normalize_path(ctx.param("path")); }

// A path from the request, normalized; a bad one is 400 naming `field`.
Result<std::string> path_field(std::string_view raw, const char* field) {
  auto n = normalize_path(raw);
  if (!n) return fail(Error(n.error()).with("field", field));
  return *n;
}

// 201 for a new signed link: the link, its token and URL (shown once), ETag, Location.
Response link_created(const Service& svc, const LinkRow& l) {
  auto j = l.json();
  j["token"] = svc.link_token(l);
  j["url"] = "/dl/" + j["token"].get<std::string>();
  return http::with_etag(Response::json(201, j), j).header("Location", "/api/v1/links/" + l.id);
}

// A version's file (or a link's) as a download: its ETag is the blob's, as content never changes.
std::string blob_etag(const std::string& blob_id) { return "\"" + blob_id.substr(0, 32) + "\""; }

// An upload, for its uploader only, who must still may write the project's files; anyone else
// gets 404.
Result<UploadRow> load_upload(Context& ctx, db::Tx& tx) {
  auto u = TRY(get_upload(tx, ctx.param("id")));
  if (!u || u->user_id != ctx.who().user_id || u->expires <= ctx.now()) {
    ctx.filtered();
    return not_found("upload");
  }
  auto p = TRY(projects::get_for(tx, u->project_id, ctx.who().user_id));
  if (!p) {
    ctx.filtered();
    return not_found("upload");
  }
  TRY_STATUS(ctx.authorize({"files", "write"}, projects::target_of(*p)));
  return *u;
}

Result<std::int64_t> header_int(Context& ctx, const char* name) {
  auto v = ctx.req.header(name);
  std::int64_t x = -1;
  if (!v) return fail(Error(ErrorCode::kInvalidArgument, "missing-header", std::string(name) + " is required")
                          .with("header", name));
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), x);
  if (ec != std::errc() || p != v->data() + v->size() || x < 0)
    return fail(Error(ErrorCode::kInvalidArgument, "invalid-header", std::string(name) + " must be a byte offset")
                    .with("header", name));
  return x;
}

Response upload_response(int status, const UploadRow& u) {
  return Response::json(status, u.json())
      .header("Upload-Offset", std::to_string(u.offset))
      .header("Upload-Length", std::to_string(u.size));
}

// A blob's bytes as a response body. Decryption runs on the worker pool a few pieces ahead
// (bounded) while the I/O thread sends: beside the socket writes instead of between them. One
// read-ahead task at a time owns the reader; the client's pace still bounds it (a full queue
// ends the task until next() takes a piece).
class BlobBody final : public async::Stream {
 public:
  BlobBody(async::Runtime& rt, BlobStore::Reader r) : rt_(rt), s_(std::make_shared<Shared>(std::move(r))) {}
  ~BlobBody() override {
    std::lock_guard lk(s_->mu);
    s_->stop = true;  // a read-ahead task in flight ends after its piece; it holds the shared state
  }
  async::Task<bool> next(std::string& out) override {
    for (;;) {
      {
        std::unique_lock lk(s_->mu);
        if (!s_->queue.empty()) {
          out += s_->queue.front();
          s_->queue.pop_front();
          bool restart = !s_->reading && !s_->finished;
          if (restart) s_->reading = true;
          lk.unlock();
          if (restart) read_ahead();
          co_return true;
        }
        if (s_->finished) co_return false;
        if (cancelled_) co_return true;
        if (!s_->reading) {
          s_->reading = true;
          lk.unlock();
          read_ahead();
        }
      }
      co_await s_->waiter.wait(clock_);
    }
  }
  bool failed() const override {
    std::lock_guard lk(s_->mu);
    return s_->failed;
  }
  void cancel() override {
    cancelled_ = true;
    s_->waiter.wake();
  }

 private:
  static constexpr std::size_t kDepth = 4;
  struct Shared {
    explicit Shared(BlobStore::Reader rd) : r(std::move(rd)) {}
    BlobStore::Reader r;  // used by the one read-ahead task (reading)
    async::Waiter waiter;
    std::mutex mu;
    std::deque<std::string> queue;                                   // GUARDED_BY(mu)
    bool reading = false, finished = false, failed = false, stop = false;  // GUARDED_BY(mu)
  };

  // Reads pieces on the pool until the queue is full, the blob ends or the body is dropped.
  void read_ahead() {
    async::asio::post(rt_.pool(), [s = s_] {
      for (;;) {
        std::string piece;
        auto more = s->r.next(piece, kPiece);
        std::unique_lock lk(s->mu);
        if (!more) s->failed = true;  // the server cuts the connection: the client sees a short body
        if (!piece.empty()) s->queue.push_back(std::move(piece));
        if (!more || !*more) s->finished = true;
        bool go_on = !s->finished && !s->stop && s->queue.size() < kDepth;
        if (!go_on) s->reading = false;
        lk.unlock();
        s->waiter.wake();
        if (!go_on) return;
      }
    });
  }

  async::Runtime& rt_;
  std::shared_ptr<Shared> s_;
  SystemClock clock_;
  bool cancelled_ = false;
};

// A blob as a download: Range (206, 416), If-Range, If-None-Match (304), Content-Length,
// streamed and decrypted as the client takes it.
Result<Response> serve_blob(Context& ctx, Service& svc, async::Runtime& rt, const std::string& blob_id, std::int64_t size,
                            const std::string& etag, const std::string& path) {
  if (auto inm = ctx.req.header("if-none-match"); inm && *inm == etag)
    return Response::text(304, "", "").header("ETag", etag);
  std::optional<std::pair<std::int64_t, std::int64_t>> range;
  if (auto h = ctx.req.header("range")) {
    auto ir = ctx.req.header("if-range");
    if (!ir || *ir == etag) {
      auto r = http::parse_byte_range(*h, size);
      if (!r)
        return Response::problem(r.error(), ctx.req.request_id).header("Content-Range", "bytes */" + std::to_string(size));
      range = *r;
    }
  }
  auto begin = range ? range->first : 0, end = range ? range->second : size;
  auto reader = TRY(svc.blobs().reader(blob_id, begin, end - begin));
  // The first piece here: a damaged blob found now is a 500, not a cut connection.
  std::string first;
  TRY(reader.next(first, kPiece));
  Response r = Response::text(range ? 206 : 200, std::move(first), "application/octet-stream");
  r.stream = std::make_shared<BlobBody>(rt, std::move(reader));
  r.stream_length = end - begin;
  r.header("ETag", etag).header("Accept-Ranges", "bytes").header("X-Content-SHA256", blob_id);
  if (range)
    r.header("Content-Range", "bytes " + std::to_string(begin) + "-" + std::to_string(end - 1) + "/" + std::to_string(size));
  auto slash = path.rfind('/');
  std::string name = path.substr(slash == std::string::npos ? 0 : slash + 1);
  r.header("Content-Disposition", "attachment; filename*=UTF-8''" + http::percent_encode(name));
  return r;
}

// The object (a link, a dataset) a route's {id} names, found by `get` and authorized on its
// project; 404 for anyone who may not see that project.
template <typename Get>
auto load_in_project(Context& ctx, db::Tx& tx, const http::Permission& perm, Get get, const char* what)
    -> Result<typename std::remove_cvref_t<decltype(*get(tx, std::string()))>::value_type> {
  auto row = TRY(get(tx, ctx.param("id")));
  auto p = row ? TRY(projects::get_for(tx, row->project_id, ctx.who().user_id)) : std::nullopt;
  if (!row || !p) {
    ctx.filtered();
    return not_found(what);
  }
  TRY_STATUS(ctx.authorize(perm, projects::target_of(*p)));
  return *row;
}

Result<LinkRow> load_link(Context& ctx, db::Tx& tx, const http::Permission& perm) {
  return load_in_project(ctx, tx, perm, get_link, "link");
}

Result<DatasetRow> load_dataset(Context& ctx, db::Tx& tx, const http::Permission& perm) {
  return load_in_project(ctx, tx, perm, get_dataset, "dataset");
}

Result<std::int64_t> version_number(const std::string& text, const char* field) {
  std::int64_t n = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || p != text.data() + text.size() || n < 1)
    return fail(Error(ErrorCode::kInvalidArgument, "invalid-version", std::string(field) + " must be a version number (1, 2, ...)")
                    .with("field", field));
  return n;
}

Result<json> load_version(db::Tx& tx, const DatasetRow& d, std::int64_t n) {
  auto v = TRY(get_version(tx, d.id, n));
  if (!v) return not_found("version " + std::to_string(n) + " of dataset " + d.name);
  return *v;
}

json entry_json(const ManifestEntry& e) { return {{"path", e.path}, {"size", e.size}, {"sha256", e.blob_id}}; }

constexpr std::size_t kMaxManifest = 1'000'000;

json upload_schema() {
  return {{"type", "object"},
          {"required", {"path", "size"}},
          {"properties",
           {{"path", {{"type", "string"}}},
            {"size", {{"type", "integer"}, {"minimum", 0}}},
            {"sha256", {{"type", "string"}, {"description", "expected SHA-256 (hex); checked at completion"}}},
            {"overwrite", {{"type", "boolean"}}}}}};
}

}  // namespace

// ---- the service

json GcReport::json() const {
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
  if (!num(std::string_view(name).substr(a + 1, b - a - 1), k.number) || !num(std::string_view(name).substr(b + 1), k.uid))
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
      if (::fchmod(fd.get(), 0440) != 0 ||
          (server_is_root() && ::fchown(fd.get(), owner.uid, owner.gid) != 0))
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
  std::lock_guard lock(materialize_mu_);
  std::error_code ec;
  if (!fs::is_directory(settings_.datasets_dir, ec)) return {};
  if (settings_.version_in_use && TRY(settings_.version_in_use(dataset_id, number, uid))) return {};
  Dir root = TRY(Dir::open(settings_.datasets_dir));
  return remove_copy(root, copy_name(dataset_id, number, uid));
}

Result<std::int64_t> Service::sweep_materialized(bool dry_run) {
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
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::milliseconds(settings_.capture_timeout);
  auto refused = [](ErrorCode code, const std::string& type, const std::string& why) {
    return fail(code, type, "outputs not captured: " + why);
  };
  auto in_time = [&]() -> Status {
    if (Clock::now() <= deadline) return {};
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
  if (auto q = db_.read([&](db::Tx& tx) { return check_storage_quota(tx, owner.org_id, owner.group_id, owner.user_id, total); });
      !q)
    return refused(q.error().code, q.error().type, q.error().detail);

  // Against garbage collection until the blobs are marked as just referenced (below): the job's
  // end then records the version well within the grace period.
  std::shared_lock gc_lock(gc_mu_);
  std::vector<ManifestEntry> out;
  std::string buf(1 << 20, '\0');
  for (auto& m : matches) {
    TRY_STATUS(in_time());
    // Opened beneath the workspace without following links; O_NONBLOCK: a FIFO put in the file's
    // place cannot stall the capture. Gone or replaced since the walk: not an output.
    auto fd = root.open_file(m.rel, O_RDONLY | O_NONBLOCK);
    if (!fd) continue;
    struct stat st{};
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
  struct statvfs st{};
  std::error_code ec;
  fs::create_directories(settings_.staging_dir, ec);
  if (::statvfs(settings_.staging_dir.c_str(), &st) != 0) return internal("cannot read the free space of the data disk");
  auto free_bytes = static_cast<std::int64_t>(st.f_bavail) * static_cast<std::int64_t>(st.f_frsize);
  // An upload's rest arrives in staging, then becomes a blob of its size: twice its size at the end.
  auto row = TRY(tx.query_one("SELECT COALESCE(SUM(2 * size - received), 0) FROM uploads"));
  return free_bytes - settings_.reserve_bytes - (row ? row->i64(0) : 0);
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
  std::unique_lock gc_lock(gc_mu_);
  auto ids = TRY(db_.read([&](db::Tx& tx) { return unreferenced_blobs(tx, now - settings_.gc_grace, 1 << 20); }));
  for (auto& id : ids) {
    auto sz = TRY(db_.read([&](db::Tx& tx) -> Result<std::int64_t> {
      auto r = TRY(tx.query_one("SELECT size FROM blobs WHERE id = ?", {id}));
      return r ? r->i64(0) : 0;
    }));
    ++rep.blobs;
    rep.bytes += sz;
    if (dry_run) continue;
    // The row first: a crash after it leaves an unknown object, collected below next time.
    bool forgotten = TRY(db_.write([&](db::Tx& tx) { return forget_unreferenced_blob(tx, id, now - settings_.gc_grace); }));
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

// ---- the routes

void add_routes(http::Api& api, Service& svc, async::Runtime& rt) {
  const json kObj = http::object_schema();

  api.add({"POST", "/api/v1/projects/{id}/uploads", Access::require("files", "write"),
           {"Start a resumable upload of a file of `size` bytes to `path`; send it with PATCH at offsets, then complete",
            "files", upload_schema(), kObj, 201, {}, true},
           [&svc](Context& ctx) -> Result<Response> {
             auto p = TRY(load_project(ctx, ctx.t(), {"files", "write"}));
             TRY_STATUS(writable(p));
             auto b = TRY(ctx.json());
             TRY_STATUS(b.only({"path", "size", "sha256", "overwrite"}));
             UploadRow u;
             u.path = TRY(path_field(TRY(b.str("path", 4 * kMaxPathBytes)), "path"));
             u.size = TRY(b.integer("size", 0, svc.settings().max_file_bytes));
             u.sha256 = TRY(b.opt_str("sha256", 64)).value_or("");
             if (!u.sha256.empty() && !valid_blob_id(u.sha256))
               return fail(Error(ErrorCode::kInvalidArgument, "invalid-field", "sha256 must be 64 lowercase hex digits")
                               .with("field", "sha256"));
             u.overwrite = TRY(b.opt_bool("overwrite")).value_or(false);
             if (!u.overwrite && TRY(get_file(ctx.t(), p.id, u.path))) return file_exists_error(u.path);
             // Refused before a byte is sent: the owners' quotas, then the disk.
             TRY_STATUS(check_storage_quota(ctx.t(), p.org_id, p.group_id, ctx.who().user_id, u.size));
             auto room = TRY(svc.disk_room(ctx.t()));
             if (2 * u.size > room)
               return fail(Error(ErrorCode::kQuotaExceeded, "insufficient-storage",
                                 "the data disk has no room for " + std::to_string(u.size) + " more bytes")
                               .with("requested", u.size)
                               .with("available", std::max<std::int64_t>(0, room / 2)));
             u.id = new_id("upl", ctx.now());
             u.project_id = p.id;
             u.org_id = p.org_id;
             u.group_id = p.group_id;
             u.user_id = ctx.who().user_id;
             u.created = u.updated = ctx.now();
             u.expires = ctx.now() + svc.settings().upload_ttl;
             auto staging = TRY(Staging::create(svc.blobs().key(), svc.staging_file(u.id), u.id, u.size));
             u.wrapped_key = crypto::hex(staging.state().wrapped_key);
             TRY_STATUS(insert_upload(ctx.t(), ctx.actor(), u, ctx.now()));
             ctx.t().on_end([file = svc.staging_file(u.id)](bool committed) {
               if (!committed) {
                 std::error_code ec;
                 fs::remove(file, ec);
               }
             });
             return upload_response(201, u)
                 .header("Location", "/api/v1/uploads/" + u.id)
                 .header("Upload-Chunk-Max", std::to_string(svc.settings().max_chunk_bytes));
           }});

  api.add({"GET", "/api/v1/projects/{id}/uploads", Access::require("files", "write"),
           {"My uploads in progress in a project", "files", nullptr, http::list_schema(), 200, {"limit", "after"}},
           [](Context& ctx) -> Result<Response> {
             auto p = TRY(load_project(ctx, ctx.t(), {"files", "write"}));
             auto page = TRY(ctx.page());
             json items = json::array();
             for (auto& u : TRY(list_uploads(ctx.t(), p.id, ctx.who().user_id, page.after, page.limit)))
               if (u.expires > ctx.now()) items.push_back(u.json());
             return http::paged(std::move(items), page.limit, "id");
           }});

  api.add({"GET", "/api/v1/uploads/{id}", Access::require("files", "write"),
           {"An upload's state; Upload-Offset says where to resume", "files", nullptr, kObj},
           [](Context& ctx) -> Result<Response> { return upload_response(200, TRY(load_upload(ctx, ctx.t()))); }});

  api.add({"PATCH", "/api/v1/uploads/{id}", Access::require("files", "write"),
           {"Send a chunk (the raw bytes as the body) at Upload-Offset, which must be the upload's offset; answers "
            "the new offset",
            "files", nullptr, kObj},
           [&svc](Context& ctx) -> Result<Response> {
             auto u = TRY(ctx.db().read([&](db::Tx& tx) { return load_upload(ctx, tx); }));
             auto at = TRY(header_int(ctx, "upload-offset"));
             Service::UploadLock lock(svc, u.id);
             if (!lock.held())
               return fail(Error(ErrorCode::kAborted, "upload-busy",
                                 "another request is sending to this upload; ask for its offset")
                               .with("offset", u.offset));
             // Re-read under the lock: the row is what the last chunk recorded.
             u = TRY(ctx.db().read([&](db::Tx& tx) { return load_upload(ctx, tx); }));
             TRY_STATUS(check_chunk(u.size, u.offset, at, static_cast<std::int64_t>(ctx.req.body.size())));
             auto wrapped = crypto::unhex(u.wrapped_key);
             if (!wrapped) return internal("upload " + u.id + " has a malformed key");
             auto staging = TRY(Staging::open(svc.blobs().key(), svc.staging_file(u.id), u.id,
                                              {u.size, u.offset, u.staged_bytes, *wrapped}));
             TRY_STATUS(staging.append(at, ctx.req.body));
             auto now = ctx.now();
             TRY_STATUS(ctx.db().write_tx([&](db::Tx& tx) {
               return advance_upload(tx, u.id, u.offset, staging.state().offset, staging.state().staged_bytes, now,
                                     now + svc.settings().upload_ttl);
             }));
             u.offset = staging.state().offset;
             u.staged_bytes = staging.state().staged_bytes;
             u.updated = now;
             u.expires = now + svc.settings().upload_ttl;
             return upload_response(200, u);
           },
           http::TxMode::kNone, false,
           // Before the chunk is read (it may be 64 MiB, held in memory): only the uploader, who
           // may still write the project, and a chunk that fits where Upload-Offset says.
           [](Context& ctx) -> Result<Response> {
             auto u = TRY(load_upload(ctx, ctx.t()));
             auto at = TRY(header_int(ctx, "upload-offset"));
             if (auto len = ctx.req.header("content-length")) {
               std::int64_t n = -1;
               auto [p, ec] = std::from_chars(len->data(), len->data() + len->size(), n);
               if (ec == std::errc() && p == len->data() + len->size()) TRY_STATUS(check_chunk(u.size, u.offset, at, n));
             }
             return Response{};
           }});

  api.add({"POST", "/api/v1/uploads/{id}/complete", Access::require("files", "write"),
           {"Finish an upload: its data becomes the file at its path if the SHA-256 matches (else 400 hash-mismatch "
            "and nothing is stored)",
            "files", json{{"type", "object"}, {"properties", {{"sha256", {{"type", "string"}}}}}}, kObj, 201},
           [&svc](Context& ctx) -> Result<Response> {
             auto u = TRY(ctx.db().read([&](db::Tx& tx) { return load_upload(ctx, tx); }));
             auto b = TRY(ctx.json());
             TRY_STATUS(b.only({"sha256"}));
             auto sha = TRY(b.opt_str("sha256", 64));
             if (sha && !valid_blob_id(*sha))
               return fail(Error(ErrorCode::kInvalidArgument, "invalid-field", "sha256 must be 64 lowercase hex digits")
                               .with("field", "sha256"));
             Service::UploadLock lock(svc, u.id);
             if (!lock.held())
               return fail(ErrorCode::kAborted, "upload-busy", "another request is sending to this upload");
             u = TRY(ctx.db().read([&](db::Tx& tx) { return load_upload(ctx, tx); }));
             if (u.offset != u.size)
               return fail(Error(ErrorCode::kFailedPrecondition, "upload-incomplete",
                                 "the upload has " + std::to_string(u.offset) + " of " + std::to_string(u.size) +
                                     " bytes")
                               .with("offset", u.offset)
                               .with("size", u.size));
             if (sha && !u.sha256.empty() && *sha != u.sha256)
               return fail(Error(ErrorCode::kInvalidArgument, "invalid-field",
                                 "sha256 differs from the one the upload was created with")
                               .with("field", "sha256"));
             std::optional<std::string> expected = sha ? sha : (u.sha256.empty() ? std::nullopt : std::optional(u.sha256));
             auto wrapped = crypto::unhex(u.wrapped_key);
             if (!wrapped) return internal("upload " + u.id + " has a malformed key");
             auto staging = TRY(Staging::open(svc.blobs().key(), svc.staging_file(u.id), u.id,
                                              {u.size, u.offset, u.staged_bytes, *wrapped}));
             // Shared against garbage collection from storing the blob until its file row is in.
             std::shared_lock gc_lock(svc.gc_mutex());
             auto info = staging.finish(svc.blobs(), expected);
             if (!info) {
               if (info.error().type == "hash-mismatch") {
                 // Nothing is stored; the upload is over (its data is known to be wrong).
                 TRY_STATUS(ctx.db().write_tx([&](db::Tx& tx) { return delete_upload(tx, u.id); }));
                 (void)staging.discard();
               }
               return std::unexpected(info.error());
             }
             auto file = TRY(ctx.db().write([&](db::Tx& tx) -> Result<FileRow> {
               auto p = TRY(projects::get(tx, u.project_id));
               if (!p) return not_found("project");
               TRY_STATUS(writable(*p));
               FileRow f;
               f.project_id = u.project_id;
               f.path = u.path;
               f.org_id = p->org_id;
               f.group_id = p->group_id;
               f.owner_id = u.user_id;
               f.blob_id = info->id;
               f.size = info->size;
               auto out = TRY(put_file(tx, ctx.actor(), f, u.overwrite, ctx.now()));
               TRY_STATUS(delete_upload(tx, u.id));
               return out;
             }));
             (void)staging.discard();
             return http::with_etag(Response::json(201, file.json()), file.json())
                 .header("Location", "/api/v1/projects/" + file.project_id + "/files/" + file.path);
           },
           http::TxMode::kNone});

  api.add({"DELETE", "/api/v1/uploads/{id}", Access::require("files", "write"),
           {"Abandon an upload; its staged data is removed", "files", nullptr, nullptr, 204},
           [&svc](Context& ctx) -> Result<Response> {
             auto u = TRY(load_upload(ctx, ctx.t()));
             Service::UploadLock lock(svc, u.id);
             if (!lock.held()) return fail(ErrorCode::kAborted, "upload-busy", "another request is using this upload");
             TRY_STATUS(delete_upload(ctx.t(), u.id));
             TRY_STATUS(audit::record(ctx.t(), ctx.actor(),
                                      {u.org_id, "upload.delete", "upload", u.id, {{"path", u.path}}}, ctx.now()));
             ctx.t().on_end([file = svc.staging_file(u.id)](bool committed) {
               std::error_code ec;
               if (committed) fs::remove(file, ec);
             });
             return Response::no_content();
           }});

  api.add({"GET", "/api/v1/projects/{id}/files", Access::require("files", "read"),
           {"A project's files in path order, optionally under a directory (prefix=dir)", "files", nullptr,
            http::list_schema(), 200, {"prefix", "limit", "after"}},
           [](Context& ctx) -> Result<Response> {
             auto p = TRY(load_project(ctx, ctx.t(), {"files", "read"}));
             std::string prefix;
             if (auto v = ctx.req.query_param("prefix"); v && !v->empty()) {
               prefix = TRY(path_field(*v, "prefix"));
             }
             auto page = TRY(ctx.page(1000));
             json items = json::array();
             for (auto& f : TRY(list_files(ctx.t(), p.id, prefix, page.after, page.limit))) items.push_back(f.json());
             return http::paged(std::move(items), page.limit, "path");
           }});

  api.add({"GET", "/api/v1/projects/{id}/files/{path*}", Access::require("files", "read"),
           {"Download a file (Range: bytes=a-b for part of it; ETag and X-Content-SHA256 describe it); "
            "?stat=true answers its metadata as JSON",
            "files", nullptr, nullptr, 200, {"stat"}},
           [&svc, &rt](Context& ctx) -> Result<Response> {
             auto p = TRY(load_project(ctx, ctx.t(), {"files", "read"}));
             auto path = TRY(path_param(ctx));
             auto f = TRY(get_file(ctx.t(), p.id, path));
             if (!f) return not_found("file '" + path + "'");
             if (ctx.req.query_param("stat").value_or("false") == "true")
               return http::with_etag(Response::json(200, f->json()), f->json());
             return serve_blob(ctx, svc, rt, f->blob_id, f->size, f->etag(), path);
           }});

  api.add({"DELETE", "/api/v1/projects/{id}/files/{path*}", Access::require("files", "write"),
           {"Delete a file (If-Match: its ETag, optional)", "files", nullptr, nullptr, 204},
           [](Context& ctx) -> Result<Response> {
             auto p = TRY(load_project(ctx, ctx.t(), {"files", "write"}));
             TRY_STATUS(writable(p));
             auto path = TRY(path_param(ctx));
             auto f = TRY(get_file(ctx.t(), p.id, path));
             if (!f) return not_found("file '" + path + "'");
             if (ctx.req.header("if-match")) TRY_STATUS(ctx.check_if_match(f->etag()));
             TRY_STATUS(delete_file(ctx.t(), ctx.actor(), *f, ctx.now()));
             return Response::no_content();
           }});

  api.add({"POST", "/api/v1/projects/{id}/files-move", Access::require("files", "write"),
           {"Rename a file: {from, to, overwrite}", "files",
            json{{"type", "object"},
                 {"required", {"from", "to"}},
                 {"properties",
                  {{"from", {{"type", "string"}}}, {"to", {{"type", "string"}}}, {"overwrite", {{"type", "boolean"}}}}}},
            kObj},
           [](Context& ctx) -> Result<Response> {
             auto p = TRY(load_project(ctx, ctx.t(), {"files", "write"}));
             TRY_STATUS(writable(p));
             auto b = TRY(ctx.json());
             TRY_STATUS(b.only({"from", "to", "overwrite"}));
             auto from = TRY(path_field(TRY(b.str("from", 4 * kMaxPathBytes)), "from"));
             auto to = TRY(path_field(TRY(b.str("to", 4 * kMaxPathBytes)), "to"));
             bool overwrite = TRY(b.opt_bool("overwrite")).value_or(false);
             auto f = TRY(get_file(ctx.t(), p.id, from));
             if (!f) return not_found("file '" + from + "'");
             if (ctx.req.header("if-match")) TRY_STATUS(ctx.check_if_match(f->etag()));
             auto out = TRY(move_file(ctx.t(), ctx.actor(), *f, to, overwrite, ctx.now()));
             return http::with_etag(Response::json(200, out.json()), out.json());
           }});

  api.add({"POST", "/api/v1/projects/{id}/links", Access::require("files", "write"),
           {"Make a signed download link for a file as it is now: expiring (expires_in_s, default 1 day), optionally "
            "one-time; the url is shown once",
            "files",
            json{{"type", "object"},
                 {"required", {"path"}},
                 {"properties",
                  {{"path", {{"type", "string"}}},
                   {"expires_in_s", {{"type", "integer"}, {"minimum", 1}}},
                   {"one_time", {{"type", "boolean"}}}}}},
            kObj, 201, {}, true, {"token", "url"}},
           [&svc](Context& ctx) -> Result<Response> {
             auto p = TRY(load_project(ctx, ctx.t(), {"files", "write"}));
             auto b = TRY(ctx.json());
             TRY_STATUS(b.only({"path", "expires_in_s", "one_time"}));
             auto path = TRY(path_field(TRY(b.str("path", 4 * kMaxPathBytes)), "path"));
             auto ttl = TRY(b.opt_integer("expires_in_s", 1, svc.settings().max_link_ttl / 1000)).value_or(86400);
             auto f = TRY(get_file(ctx.t(), p.id, path));
             if (!f) return not_found("file '" + path + "'");
             LinkRow l;
             l.id = new_id("lnk", ctx.now());
             l.project_id = p.id;
             l.org_id = p.org_id;
             l.path = f->path;
             l.blob_id = f->blob_id;
             l.size = f->size;
             l.created_by = ctx.who().user_id;
             l.created = ctx.now();
             l.expires = ctx.now() + ttl * 1000;
             l.one_time = TRY(b.opt_bool("one_time")).value_or(false);
             TRY_STATUS(insert_link(ctx.t(), ctx.actor(), l, ctx.now()));
             return link_created(svc, l);
           }});

  api.add({"GET", "/api/v1/projects/{id}/links", Access::require("files", "read"),
           {"A project's signed links (never their tokens)", "files", nullptr, http::list_schema(), 200,
            {"limit", "after"}},
           [](Context& ctx) -> Result<Response> {
             auto p = TRY(load_project(ctx, ctx.t(), {"files", "read"}));
             auto page = TRY(ctx.page());
             json items = json::array();
             for (auto& l : TRY(list_links(ctx.t(), p.id, page.after, page.limit))) items.push_back(l.json());
             return http::paged(std::move(items), page.limit, "id");
           }});

  api.add({"DELETE", "/api/v1/links/{id}", Access::require("files", "write"),
           {"Revoke a signed link", "files", nullptr, nullptr, 204},
           [](Context& ctx) -> Result<Response> {
             auto l = TRY(load_link(ctx, ctx.t(), {"files", "write"}));
             if (ctx.req.header("if-match")) TRY_STATUS(ctx.check_if_match(l.json()["etag"].get<std::string>()));
             TRY_STATUS(revoke_link(ctx.t(), ctx.actor(), l, ctx.now()));
             return Response::no_content();
           }});

  // ---- datasets
  api.add({"POST", "/api/v1/projects/{id}/datasets", Access::require("files", "write"),
           {"Create a dataset (a name for immutable, numbered versions of a set of files)", "files",
            json{{"type", "object"},
                 {"required", {"name"}},
                 {"properties", {{"name", {{"type", "string"}}}, {"description", {{"type", "string"}}}}}},
            kObj, 201, {}, true},
           [](Context& ctx) -> Result<Response> {
             auto p = TRY(load_project(ctx, ctx.t(), {"files", "write"}));
             TRY_STATUS(writable(p));
             auto b = TRY(ctx.json());
             TRY_STATUS(b.only({"name", "description"}));
             DatasetRow d;
             d.name = TRY(b.str("name", 64));
             if (!is_valid_slug(d.name))
               return fail(Error(ErrorCode::kInvalidArgument, "invalid-field",
                                 "name must be 1-64 of a-z 0-9 - _ . starting with a letter or digit (it names /data/<name> in jobs)")
                               .with("field", "name"));
             d.description = TRY(b.opt_str("description", 2000)).value_or("");
             TRY_STATUS(check_display_text("description", d.description, 2000, true));
             d.id = new_id("dst", ctx.now());
             d.project_id = p.id;
             d.org_id = p.org_id;
             d.group_id = p.group_id;
             d.created_by = ctx.who().user_id;
             d = TRY(create_dataset(ctx.t(), ctx.actor(), d, ctx.now()));
             return http::with_etag(Response::json(201, d.json()), d.json())
                 .header("Location", "/api/v1/datasets/" + d.id);
           }});

  api.add({"GET", "/api/v1/projects/{id}/datasets", Access::require("files", "read"),
           {"A project's datasets by name", "files", nullptr, http::list_schema(), 200, {"limit", "after"}},
           [](Context& ctx) -> Result<Response> {
             auto p = TRY(load_project(ctx, ctx.t(), {"files", "read"}));
             auto page = TRY(ctx.page());
             json items = json::array();
             for (auto& d : TRY(list_datasets(ctx.t(), p.id, page.after, page.limit))) items.push_back(d.json());
             return http::paged(std::move(items), page.limit, "name");
           }});

  api.add({"GET", "/api/v1/datasets/{id}", Access::require("files", "read"),
           {"A dataset and its versions (newest first)", "files", nullptr, kObj},
           [](Context& ctx) -> Result<Response> {
             auto d = TRY(load_dataset(ctx, ctx.t(), {"files", "read"}));
             auto j = d.json();
             j["versions"] = TRY(list_versions(ctx.t(), d.id));
             return http::with_etag(Response::json(200, j), j);
           }});

  api.add({"POST", "/api/v1/datasets/{id}/versions", Access::require("files", "write"),
           {"Record a new version: the project's files under `prefix` (paths relative to it; \"\" = every file) or the "
            "listed `paths`, as they are now; immutable once made",
            "files",
            json{{"type", "object"},
                 {"properties",
                  {{"prefix", {{"type", "string"}}},
                   {"paths", {{"type", "array"}, {"items", {{"type", "string"}}}}},
                   {"message", {{"type", "string"}}}}}},
            kObj, 201, {}, true},
           [](Context& ctx) -> Result<Response> {
             auto d = TRY(load_dataset(ctx, ctx.t(), {"files", "write"}));
             auto b = TRY(ctx.json());
             TRY_STATUS(b.only({"prefix", "paths", "message"}));
             auto message = TRY(b.opt_str("message", 2000)).value_or("");
             TRY_STATUS(check_display_text("message", message, 2000, true));
             auto prefix_in = TRY(b.opt_str("prefix", 4 * kMaxPathBytes));
             auto paths = TRY(b.opt_str_list("paths", 100000, 4 * kMaxPathBytes));
             if (prefix_in && paths)
               return fail(Error(ErrorCode::kInvalidArgument, "invalid-field", "give prefix or paths, not both")
                               .with("field", "paths"));
             std::vector<ManifestEntry> entries;
             json provenance = {{"source", "files"}, {"project_id", d.project_id}};
             if (paths) {
               std::set<std::string> seen;
               for (auto& raw : *paths) {
                 auto p = TRY(path_field(raw, "paths"));
                 if (!seen.insert(p).second) continue;
                 auto f = TRY(get_file(ctx.t(), d.project_id, p));
                 if (!f) return fail(Error(ErrorCode::kInvalidArgument, "unknown-file", "no file named '" + p + "'")
                                         .with("field", "paths")
                                         .with("path", p));
                 entries.push_back({f->path, f->blob_id, f->size});
               }
               std::sort(entries.begin(), entries.end(), [](auto& a, auto& b) { return a.path < b.path; });
               provenance["paths"] = entries.size();
             } else {
               std::string prefix;
               if (prefix_in && !prefix_in->empty()) {
                 prefix = TRY(path_field(*prefix_in, "prefix"));
               }
               std::string after;
               for (;;) {
                 auto page = TRY(list_files(ctx.t(), d.project_id, prefix, after, 10000));
                 for (auto& f : page)
                   entries.push_back({prefix.empty() ? f.path : f.path.substr(prefix.size() + 1), f.blob_id, f.size});
                 if (page.size() < 10000) break;
                 after = page.back().path;
                 if (entries.size() > kMaxManifest)
                   return fail(ErrorCode::kInvalidArgument, "too-many-files",
                               "a version holds at most " + std::to_string(kMaxManifest) + " files");
               }
               provenance["prefix"] = prefix;
             }
             auto v = TRY(add_version(ctx.t(), ctx.actor(), d, entries, message, provenance, ctx.now()));
             return Response::json(201, v).header(
                 "Location", "/api/v1/datasets/" + d.id + "/versions/" + std::to_string(v["version"].get<std::int64_t>()));
           }});

  api.add({"GET", "/api/v1/datasets/{id}/versions/{n}", Access::require("files", "read"),
           {"One version of a dataset", "files", nullptr, kObj},
           [](Context& ctx) -> Result<Response> {
             auto d = TRY(load_dataset(ctx, ctx.t(), {"files", "read"}));
             auto n = TRY(version_number(ctx.param("n"), "n"));
             return Response::json(200, TRY(load_version(ctx.t(), d, n)));
           }});

  api.add({"GET", "/api/v1/datasets/{id}/versions/{n}/files", Access::require("files", "read"),
           {"The manifest of a version: path, size, sha256 in path order", "files", nullptr, http::list_schema(), 200,
            {"limit", "after"}},
           [](Context& ctx) -> Result<Response> {
             auto d = TRY(load_dataset(ctx, ctx.t(), {"files", "read"}));
             auto n = TRY(version_number(ctx.param("n"), "n"));
             TRY(load_version(ctx.t(), d, n));
             auto page = TRY(ctx.page(1000));
             json items = json::array();
             for (auto& e : TRY(version_entries(ctx.t(), d.id, n, page.after, page.limit))) items.push_back(entry_json(e));
             return http::paged(std::move(items), page.limit, "path");
           }});

  api.add({"GET", "/api/v1/datasets/{id}/versions/{n}/files/{path*}", Access::require("files", "read"),
           {"Download a file of a dataset version (Range supported)", "files", nullptr, nullptr},
           [&svc, &rt](Context& ctx) -> Result<Response> {
             auto d = TRY(load_dataset(ctx, ctx.t(), {"files", "read"}));
             auto n = TRY(version_number(ctx.param("n"), "n"));
             auto path = TRY(path_param(ctx));
             auto e = TRY(version_entry(ctx.t(), d.id, n, path));
             if (!e) return not_found("file '" + path + "' in version " + std::to_string(n));
             return serve_blob(ctx, svc, rt, e->blob_id, e->size, blob_etag(e->blob_id), path);
           }});

  api.add({"GET", "/api/v1/datasets/{id}/diff", Access::require("files", "read"),
           {"What changed between two versions (from, to): added, removed and changed paths", "files", nullptr, kObj, 200,
            {"from", "to"}},
           [](Context& ctx) -> Result<Response> {
             auto d = TRY(load_dataset(ctx, ctx.t(), {"files", "read"}));
             auto from = TRY(version_number(std::string(ctx.req.query_param("from").value_or("")), "from"));
             auto to = TRY(version_number(std::string(ctx.req.query_param("to").value_or("")), "to"));
             TRY(load_version(ctx.t(), d, from));
             TRY(load_version(ctx.t(), d, to));
             auto a = TRY(version_entries(ctx.t(), d.id, from, "", static_cast<int>(kMaxManifest)));
             auto b = TRY(version_entries(ctx.t(), d.id, to, "", static_cast<int>(kMaxManifest)));
             json added = json::array(), removed = json::array(), changed = json::array();
             std::size_t i = 0, j = 0, same = 0;
             while (i < a.size() || j < b.size()) {  // both in path order
               if (j == b.size() || (i < a.size() && a[i].path < b[j].path)) {
                 removed.push_back(entry_json(a[i++]));
               } else if (i == a.size() || b[j].path < a[i].path) {
                 added.push_back(entry_json(b[j++]));
               } else {
                 if (a[i].blob_id != b[j].blob_id)
                   changed.push_back({{"path", a[i].path}, {"from", entry_json(a[i])}, {"to", entry_json(b[j])}});
                 else
                   ++same;
                 ++i, ++j;
               }
             }
             return Response::json(200, json{{"dataset_id", d.id},
                                             {"from", from},
                                             {"to", to},
                                             {"added", added},
                                             {"removed", removed},
                                             {"changed", changed},
                                             {"unchanged", same}});
           }});

  api.add({"POST", "/api/v1/datasets/{id}/versions/{n}/links", Access::require("files", "write"),
           {"Make a signed link to a whole dataset version (expires_in_s, default 1 day): /dl/<token> lists its "
            "files, /dl/<token>/<path> downloads one; the url is shown once",
            "files",
            json{{"type", "object"}, {"properties", {{"expires_in_s", {{"type", "integer"}, {"minimum", 1}}}}}}, kObj,
            201, {}, true, {"token", "url"}},
           [&svc](Context& ctx) -> Result<Response> {
             auto d = TRY(load_dataset(ctx, ctx.t(), {"files", "write"}));
             auto n = TRY(version_number(ctx.param("n"), "n"));
             auto v = TRY(load_version(ctx.t(), d, n));
             auto b = TRY(ctx.json());
             TRY_STATUS(b.only({"expires_in_s"}));
             auto ttl = TRY(b.opt_integer("expires_in_s", 1, svc.settings().max_link_ttl / 1000)).value_or(86400);
             LinkRow l;
             l.id = new_id("lnk", ctx.now());
             l.project_id = d.project_id;
             l.org_id = d.org_id;
             l.dataset_id = d.id;
             l.number = n;
             l.size = v["bytes"].get<std::int64_t>();
             l.created_by = ctx.who().user_id;
             l.created = ctx.now();
             l.expires = ctx.now() + ttl * 1000;
             TRY_STATUS(insert_link(ctx.t(), ctx.actor(), l, ctx.now()));
             return link_created(svc, l);
           }});

  // The link a /dl/<token> names, if the token is its signature and it is still live.
  auto live_link = [&svc](Context& ctx) -> Result<LinkRow> {
    auto invalid_link = [] {
      return fail(ErrorCode::kNotFound, "link-invalid", "this link is expired, revoked, used or not a link");
    };
    const std::string& token = ctx.param("token");
    auto dot = token.find('.');
    if (dot == std::string::npos || !is_id(std::string_view(token).substr(0, dot), "lnk")) return invalid_link();
    auto l = TRY(ctx.db().read([&](db::Tx& tx) { return get_link(tx, token.substr(0, dot)); }));
    if (!l || !crypto::constant_time_equal(token, svc.link_token(*l))) return invalid_link();
    if (l->revoked || l->expires <= ctx.now()) return invalid_link();
    return *l;
  };
  // Counts and audits a GET through a link (HEAD is free).
  auto count_use = [](Context& ctx, const LinkRow& l, const std::string& what) -> Status {
    if (ctx.req.method == "HEAD") return {};
    return ctx.db().write_tx([&](db::Tx& tx) { return use_link(tx, ctx.actor(), l, what.substr(0, 300), ctx.now()); });
  };

  api.add({"GET", "/dl/{token}", Access::open(),
           {"Through a signed link: the file (Range supported), or a dataset version's file list; every use is audited",
            "files", nullptr, nullptr},
           [&svc, live_link, count_use, &rt](Context& ctx) -> Result<Response> {
             auto l = TRY(live_link(ctx));
             if (l.dataset_id.empty()) {
               TRY_STATUS(count_use(ctx, l, std::string(ctx.req.header("range").value_or(""))));
               return serve_blob(ctx, svc, rt, l.blob_id, l.size, blob_etag(l.blob_id), l.path);
             }
             TRY_STATUS(count_use(ctx, l, "list"));
             json files = json::array();
             std::string after;
             for (;;) {
               auto page = TRY(ctx.db().read(
                   [&](db::Tx& tx) { return version_entries(tx, l.dataset_id, l.number, after, 10000); }));
               for (auto& e : page) {
                 auto j = entry_json(e);
                 j["url"] = "/dl/" + ctx.param("token") + "/" + http::percent_encode(e.path);
                 files.push_back(std::move(j));
               }
               if (page.size() < 10000) break;
               after = page.back().path;
             }
             return Response::json(200, json{{"dataset_id", l.dataset_id},
                                             {"version", l.number},
                                             {"bytes", l.size},
                                             {"expires", format_rfc3339(l.expires)},
                                             {"files", files}});
           },
           http::TxMode::kNone});

  api.add({"GET", "/dl/{token}/{path*}", Access::open(),
           {"Through a signed link to a dataset version: one of its files (Range supported); every use is audited",
            "files", nullptr, nullptr},
           [&svc, live_link, count_use, &rt](Context& ctx) -> Result<Response> {
             auto l = TRY(live_link(ctx));
             auto path = TRY(path_param(ctx));
             if (l.dataset_id.empty()) return not_found("file '" + path + "'");
             auto e = TRY(ctx.db().read([&](db::Tx& tx) { return version_entry(tx, l.dataset_id, l.number, path); }));
             if (!e) return not_found("file '" + path + "'");
             std::string what = path;
             if (auto r = ctx.req.header("range")) what += " " + std::string(*r);
             TRY_STATUS(count_use(ctx, l, what));
             return serve_blob(ctx, svc, rt, e->blob_id, e->size, blob_etag(e->blob_id), path);
           },
           http::TxMode::kNone});

  api.add({"POST", "/api/v1/admin/gc", Access::require("files", "admin"),  // instance administrators
           {"Collect unreferenced blobs, expired uploads and orphaned staging files ({dry_run: true} only counts)",
            "files", json{{"type", "object"}, {"properties", {{"dry_run", {{"type", "boolean"}}}}}}, kObj},
           [&svc](Context& ctx) -> Result<Response> {
             TRY_STATUS(ctx.authorize(Target{}));
             auto b = TRY(ctx.json());
             TRY_STATUS(b.only({"dry_run"}));
             bool dry = TRY(b.opt_bool("dry_run")).value_or(false);
             auto rep = TRY(svc.gc(dry));
             return Response::json(200, rep.json());
           },
           http::TxMode::kNone});
}

}  // namespace atrium::data
