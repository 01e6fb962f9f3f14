// The images module's side of a build: the built root becomes a ready image (neutralised, described,
// counted in the storage quota, the OCI image kept in the shared layout).
#include <cerrno>
#include <cstring>

#include "audit/audit.hpp"
#include "core/ids.hpp"
#include "images/build.hpp"
#include "images/service_impl.hpp"
#include "images/store.hpp"

namespace atrium::images {

namespace fs = std::filesystem;

Result<bool> image_ready(db::Tx& tx, const std::string& image_id) {
  auto im = TRY(store::get_image(tx, image_id));
  return im && im->state == "ready";
}

Result<bool> image_name_taken(db::Tx& tx, const std::string& org_id, const std::string& project_id,
                              const std::string& name) {
  auto im = TRY(store::find_by_name(tx, org_id, project_id, name));
  return im && im->state != "failed";
}

Result<std::string> ingest_built(Service& svc, const BuiltImage& b) {
  auto& m = svc.impl();
  if (!valid_digest(b.digest)) return internal("ingest_built: bad digest " + b.digest);
  // The OCI image into the shared layout (tag = the digest's hex, as pulls do).
  {
    std::lock_guard lock(m.layout_mu);
    auto r = TRY(run_tool({m.s.skopeo, "--insecure-policy", "copy", "--quiet", "oci:" + b.oci_ref,
                           "oci:" + m.oci_dir().string() + ":" + Service::Impl::hex_of(b.digest)},
                          {.timeout_ms = 10 * 60'000, .env = m.tool_env(b.rootfs.parent_path())}));
    if (r.status != 0) return internal("skopeo copy of the built image: " + r.err.substr(0, 400));
  }
  // The root: neutralised (root-owned, no devices, no setuid) and described, in a work dir of tmp/.
  fs::path work = m.tmp_path("build");
  std::error_code ec;
  fs::create_directory(work, ec);
  if (ec) return internal("cannot create " + work.string() + ": " + ec.message());
  if (::rename(b.rootfs.c_str(), (work / "rootfs").c_str()) != 0)
    return internal("cannot move the built root: " + std::string(std::strerror(errno)));
  Unpacked u;
  if (auto st = neutralise(work / "rootfs", u, m.limits()); !st) {
    fs::remove_all(work, ec);
    return fail(st.error());
  }
  fs::permissions(work, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                            fs::perms::others_read | fs::perms::others_exec, ec);
  auto software = describe(work / "rootfs");
  Millis now = m.clock.now_ms();
  Image im;
  im.id = new_id("img", now);
  im.org_id = b.org_id, im.project_id = b.project_id, im.group_id = b.group_id, im.name = b.name;
  im.source = b.source;
  im.created_by = b.created_by;
  im.created_ms = im.updated_ms = now;
  im.state = "pending";
  im.size_bytes = u.bytes;
  auto inserted = m.db.write([&](db::Tx& tx) -> Status {
    if (auto old = TRY(store::find_by_name(tx, im.org_id, im.project_id, im.name)); old) {
      if (old->state != "failed")
        return fail(ErrorCode::kAlreadyExists, "image-name-taken", "an image named " + im.name + " exists in the project");
      TRY(store::delete_image(tx, old->id, old->version));
    }
    bool held = TRY(store::subjects_hold(tx, im.org_id, im.group_id, im.created_by, b.digest));
    TRY_STATUS(m.check_quota(tx, im.org_id, im.group_id, im.created_by, held ? 0 : u.bytes));
    TRY_STATUS(store::insert_image(tx, im));
    TRY(store::claim_root(tx, b.digest, u.bytes, im.id, now));
    return audit::record(tx, Actor{.user_id = b.created_by},
                         {im.org_id, "image.build_ready", "image", im.id,
                          {{"name", im.name}, {"source", im.source}, {"digest", b.digest},
                           {"project_id", im.project_id}, {"inputs_hash", b.inputs_hash}}},
                         now);
  });
  if (!inserted) {
    fs::remove_all(work, ec);
    return fail(inserted.error());
  }
  auto done = TRY(m.ingest_root(im.id, b.digest, work, software, u.bytes));
  if (done.state != "ready") return fail(ErrorCode::kFailedPrecondition, "image-build", done.error);
  return im.id;
}

}  // namespace atrium::images
