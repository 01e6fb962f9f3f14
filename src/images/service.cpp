#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

#include "core/crypto.hpp"
#include "core/dir.hpp"
#include "core/ids.hpp"
#include "http/etag.hpp"
#include "images/service_impl.hpp"
#include "images/store.hpp"
#include "projects/projects.hpp"
#include "quota/quota.hpp"
#include "tasks/tasks.hpp"

namespace atrium::images {
namespace fs = std::filesystem;
using nlohmann::json;

bool valid_digest(std::string_view d) {
  if (d.size() != 71 || !d.starts_with("sha256:")) return false;
  for (char c : d.substr(7))
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

bool valid_image_name(std::string_view n) {
  if (n.empty() || n.size() > 64 || !std::isalnum(static_cast<unsigned char>(n.front()))) return false;
  for (char c : n)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-')) return false;
  return true;
}

json Image::json() const {
  return {{"id", id},
          {"org_id", org_id},
          {"project_id", project_id.empty() ? nlohmann::json(nullptr) : nlohmann::json(project_id)},
          {"name", name},
          {"digest", digest.empty() ? nlohmann::json(nullptr) : nlohmann::json(digest)},
          {"source", source},
          {"state", state},
          {"error", error.empty() ? nlohmann::json(nullptr) : nlohmann::json(error)},
          {"size_bytes", size_bytes},
          {"software", software},
          {"created_by", created_by},
          {"created_at", format_rfc3339(created_ms)},
          {"updated_at", format_rfc3339(updated_ms)},
          {"etag", http::etag_of(version)}};
}

json image_json(const Image& im) {
  auto j = im.json();
  j["ref"] = im.digest.empty() ? im.name : im.name + "@" + im.digest;
  return j;
}

// ---- Impl helpers

fs::path Service::Impl::tmp_path(std::string_view what) const {
  return tmp_dir() / (std::string(what) + "-" + crypto::hex(crypto::random_bytes(8)));
}

UnpackLimits Service::Impl::limits() const {
  return {.uid = s.unpack_uid, .max_bytes = s.max_image_bytes, .timeout_ms = s.pull_timeout_ms, .umoci = s.umoci,
          .unsquashfs = s.unsquashfs};
}

std::vector<std::string> Service::Impl::tool_env(const fs::path& home) const {
  // HOME and XDG_RUNTIME_DIR point at the pull's own directory: no auth file of root's is read.
  return {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + home.string(),
          "XDG_RUNTIME_DIR=" + home.string(), "TMPDIR=" + home.string(), "LANG=C.UTF-8"};
}

Status Service::Impl::init() {
  auto top = TRY(Dir::open_or_create(s.dir, 0700));
  TRY_STATUS(top.chmod(0700));
  TRY(top.make_dirs("roots", 0700));
  TRY(top.make_fresh("tmp", 0700));  // work of an interrupted pull: nothing refers to it
  // The layout: 0755 inside (the unpack uid reads it through an fd; images/ above stays root-only).
  if (!fs::exists(oci_dir() / "index.json")) {
    // umoci makes the directory itself (it refuses one that exists): clear what an interrupted start left.
    TRY_STATUS(top.remove("oci"));
    std::lock_guard lock(layout_mu);
    ToolOptions o{.timeout_ms = 60'000, .env = tool_env(tmp_dir())};
    auto r = TRY(run_tool({s.umoci, "init", "--layout", oci_dir().string()}, o));
    if (r.status != 0) return internal("umoci init " + oci_dir().string() + ": " + r.err);
    TRY_STATUS(TRY(top.dir("oci")).chmod(0755));
  }
  return {};
}

Status Service::Impl::check_quota(db::Tx& tx, const std::string& org_id, const std::string& group_id,
                                  const std::string& user_id, std::int64_t bytes) const {
  if (quotas) return quota::check_storage(tx, *quotas, org_id, group_id, user_id, bytes);
  quota::Registry own;
  TRY_STATUS(own.add("images", {"storage_bytes"}, [](db::Tx& t, const quota::Subject& sub) -> Result<json> {
    return json{{"storage_bytes", TRY(store::storage_used(t, sub.org_id, sub.kind, sub.id))}};
  }));
  return quota::check_storage(tx, own, org_id, group_id, user_id, bytes);
}

Result<Image> Service::Impl::ingest_root(const std::string& image_id, const std::string& digest,
                                         const fs::path& prepared, const json& software, std::int64_t size) {
  if (!valid_digest(digest)) return invalid("ingest_root: bad digest");
  {
    std::lock_guard lock(roots_mu);
    std::error_code ec;
    fs::path target = root_dir(digest);
    if (fs::exists(target / "rootfs", ec)) {
      fs::remove_all(prepared, ec);  // stored already: the same content
    } else {
      fs::remove_all(target, ec);
      if (::rename(prepared.c_str(), target.c_str()) != 0)
        return internal("cannot move " + prepared.string() + " into " + target.string() + ": " + std::strerror(errno));
    }
  }
  Millis now = clock.now_ms();
  return db.write([&](db::Tx& tx) -> Result<Image> {
    if (!image_id.empty()) TRY_STATUS(store::set_image_digest(tx, image_id, digest, now));
    TRY_STATUS(store::root_ready(tx, digest, size, software, now));
    for (auto& im : TRY(store::set_digest_ready(tx, digest, size, software, now))) {
      // The estimate was checked at the request; the unpacked size counts now.
      if (auto q = check_quota(tx, im.org_id, im.group_id, im.created_by, 0); !q)
        TRY_STATUS(store::set_image_failed(tx, im.id, q.error().detail, now));
    }
    if (image_id.empty()) return Image{};
    auto im = TRY(store::get_image(tx, image_id));
    return im ? *im : Image{};
  });
}

Status Service::Impl::fail_digest(const std::string& digest, const std::string& error) {
  return db.write_tx([&](db::Tx& tx) -> Status {
    TRY_STATUS(store::set_digest_failed(tx, digest, error, clock.now_ms()));
    auto root = TRY(store::get_root(tx, digest));
    if (root && root->state != "ready") TRY_STATUS(store::delete_root(tx, digest));
    return {};
  });
}

// ---- Service

Service::Service(db::Database& db, const Clock& clock, Settings s)
    : impl_(std::make_unique<Impl>(db, clock, std::move(s))) {
  if (auto st = impl_->init(); !st) spdlog::error("images: {}", st.error().detail);
}

Service::~Service() = default;

void Service::set_quotas(const quota::Registry* q) { impl_->quotas = q; }

void Service::set_in_use(std::function<Result<bool>(const std::string& digest)> f) { impl_->in_use = std::move(f); }

Result<fs::path> Service::rootfs(const std::string& digest) const {
  if (!valid_digest(digest)) return not_found("image " + digest);
  auto root = TRY(impl_->db.read([&](db::Tx& tx) { return store::get_root(tx, digest); }));
  fs::path p = impl_->root_dir(digest) / "rootfs";
  std::error_code ec;
  if (!root || root->state != "ready" || !fs::is_directory(p, ec)) return not_found("image " + digest);
  return p;
}

Result<std::int64_t> Service::storage_used(db::Tx& tx, const std::string& org_id, const std::string& kind,
                                           const std::string& subject_id) const {
  return store::storage_used(tx, org_id, kind, subject_id);
}

namespace {

std::unexpected<Error> bad_image(std::string detail) {
  return fail(Error(ErrorCode::kInvalidArgument, "invalid-image", std::move(detail)).with("field", "image"));
}

Result<ImagePin> ready_pin(const Image& im, const std::string& text) {
  if (im.state == "pending") return bad_image("image '" + text + "' is still being prepared; try again when it is ready");
  if (im.state != "ready") return bad_image("image '" + text + "' failed: " + im.error);
  return ImagePin{im.id, im.name, im.digest};
}

}  // namespace

Result<std::optional<ImagePin>> Service::resolve(db::Tx& tx, const projects::Project& p, std::string_view text) const {
  std::string t(text);
  if (t.empty()) {
    auto d = TRY(store::get_default(tx, p.id));
    if (d.image_id.empty()) return std::optional<ImagePin>{};
    auto im = TRY(store::get_image(tx, d.image_id));
    if (!im) return std::optional<ImagePin>{};
    return std::optional<ImagePin>{TRY(ready_pin(*im, "(the project's default) " + im->name))};
  }
  if (t.size() > 200) return bad_image("image is too long");
  if (valid_digest(t)) {
    auto im = TRY(store::find_ready_digest(tx, p.org_id, p.id, t));
    if (!im) return bad_image("no ready image of this project has digest " + t);
    return std::optional<ImagePin>{ImagePin{"", "", t}};
  }
  std::string name = t, digest;
  if (auto at = t.find('@'); at != std::string::npos) {
    name = t.substr(0, at), digest = t.substr(at + 1);
    if (!valid_digest(digest)) return bad_image("after @ comes a digest: sha256: and 64 lowercase hex digits");
  }
  if (!valid_image_name(name)) return bad_image("'" + name + "' is not an image name (a-z 0-9 . _ -) or a digest");
  auto im = TRY(store::find_by_name(tx, p.org_id, p.id, name));
  if (!im) im = TRY(store::find_by_name(tx, p.org_id, "", name));
  if (!im) return bad_image("this project has no image named '" + name + "'");
  auto pin = TRY(ready_pin(*im, name));
  if (!digest.empty() && digest != pin.digest)
    return bad_image("image '" + name + "' is " + pin.digest + ", not " + digest);
  return std::optional<ImagePin>{pin};
}

namespace {

// The next periodic images.gc (its key is the time slot: enqueued once, whoever asks).
Status schedule_gc(Service::Impl& im) {
  Millis now = im.clock.now_ms(), every = std::max<Millis>(im.s.gc_interval_ms, 60'000);
  Millis slot = now / every + 1;
  return im.db.write_tx([&](db::Tx& tx) -> Status {
    TRY(tasks::enqueue(tx,
                       {.kind = "images.gc", .key = "images.gc:" + std::to_string(slot),
                        .payload = {{"periodic", true}}, .max_attempts = 3, .not_before = slot * every},
                       now));
    return {};
  });
}

}  // namespace

void Service::add_tasks(tasks::Queue& queue) {
  Impl& im = *impl_;
  queue.handle("images.pull", [&im](const tasks::Task& t) { return im.pull_task(t.payload); });
  queue.handle_with_result("images.gc", [&im](const tasks::Task& t) -> Result<json> {
    auto report = TRY(im.gc());
    if (t.payload.value("periodic", false)) TRY_STATUS(schedule_gc(im));
    return report;
  });
  if (auto st = schedule_gc(im); !st) spdlog::warn("images: cannot schedule images.gc: {}", st.error().detail);
}

}  // namespace atrium::images
