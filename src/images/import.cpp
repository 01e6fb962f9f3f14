// The images.import task: the project file (a blob, encrypted at rest) is decrypted into a fresh
// work directory under <images>/tmp (root-only), handed read-only to the unpack uid, unpacked by
// unsquashfs or umoci as that uid, neutralised, and moved into roots/ under its digest. Only the
// bytes the digest covers are ever unpacked: a SIF's partition is decrypted into a file of its own.
// An OCI archive is extracted by GNU tar as the unpack uid (skopeo resolves every path to an
// absolute one, which the unpack uid may not search: the data directory is 0700); its index is
// then rewritten by us (one manifest, whose bytes we hash) and umoci, which checks every blob
// against its digest, unpacks it.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

#include "core/crypto.hpp"
#include "core/dir.hpp"
#include "images/import_detail.hpp"
#include "images/sif.hpp"
#include "images/store.hpp"
#include "images/tool.hpp"

namespace atrium::images::detail {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kRefName = "org.opencontainers.image.ref.name";

std::unexpected<Error> bad(std::string detail) {
  return fail(ErrorCode::kInvalidArgument, "invalid-image", std::move(detail));
}

// Bytes [offset, offset + length) of blob `id` into a new file `name` beneath `work`; the
// SHA-256 (hex) of what was written. The file ends up 0400, owned by `uid` (when we are root).
Result<std::string> decrypt_to(data::BlobStore& blobs, const std::string& id, std::int64_t offset, std::int64_t length,
                               const Dir& work, const std::string& name, std::int64_t uid) {
  auto fd = TRY(work.open_file(name, O_WRONLY | O_CREAT | O_EXCL, 0600));
  crypto::Sha256 sha;
  TRY_STATUS(blobs.read(id, offset, length, [&](std::string_view piece) -> Status {
    sha.update(piece);
    while (!piece.empty()) {
      ssize_t w = ::write(fd.get(), piece.data(), piece.size());
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return internal("cannot write the image's work copy: " + std::string(std::strerror(errno)));
      piece.remove_prefix(static_cast<std::size_t>(w));
    }
    return {};
  }));
  if (::geteuid() == 0 && ::fchown(fd.get(), static_cast<uid_t>(uid), static_cast<gid_t>(uid)) != 0)
    return internal("cannot hand the image's work copy to the unpack user: " + std::string(std::strerror(errno)));
  if (::fchmod(fd.get(), 0400) != 0) return internal("cannot chmod the image's work copy");
  return sha.hex_digest();
}

// Random access to a blob's plaintext (the SIF header and descriptor table: a few KiB).
ReadAt blob_reader(data::BlobStore& blobs, const std::string& id) {
  return [&blobs, id](std::int64_t off, char* buf, std::size_t n) {
    std::size_t got = 0;
    auto st = blobs.read(id, off, static_cast<std::int64_t>(n), [&](std::string_view piece) -> Status {
      std::size_t take = std::min(piece.size(), n - got);
      std::memcpy(buf + got, piece.data(), take);
      got += take;
      return {};
    });
    return st && got == n;
  };
}

struct Prepared {
  std::string digest;       // "sha256:…"
  bool stored = false;      // a ready root of this digest exists: nothing to unpack
  Unpacked unpacked;
};

Result<bool> root_stored(Service::Impl& svc, const std::string& digest) {
  auto root = TRY(svc.db.read([&](db::Tx& tx) { return store::get_root(tx, digest); }));
  std::error_code ec;
  return root && root->state == "ready" && fs::is_directory(svc.root_dir(digest) / "rootfs", ec);
}

Result<Prepared> prepare_squashfs(Service::Impl& svc, data::BlobStore& blobs, const json& p, const Dir& work,
                                  const fs::path& work_path) {
  std::string blob = p.value("blob_id", "");
  Range r{0, p.value("size", std::int64_t{0})};
  if (p.value("format", "") == "sif") r = TRY(sif_partition(blob_reader(blobs, blob), r.size));
  auto limits = svc.limits();
  Prepared out;
  out.digest = "sha256:" + TRY(decrypt_to(blobs, blob, r.offset, r.size, work, "image.sqfs", limits.uid));
  if ((out.stored = TRY(root_stored(svc, out.digest)))) return out;
  out.unpacked = TRY(unpack_squashfs(work_path / "image.sqfs", Range{0, r.size}, work_path / "root", limits));
  return out;
}

// The archive's index.json, checked and rewritten: exactly one image manifest, whose bytes in
// blobs/ hash to its digest, tagged "import" for umoci. Returns the manifest's digest.
Result<std::string> one_manifest(const Dir& layout) {
  auto text = layout.read_file("index.json", 1 << 20);
  if (!text) {
    if (TRY(layout.stat("manifest.json")))
      return bad("this is a docker-archive; convert it first (skopeo copy docker-archive:x.tar oci-archive:y.tar)");
    return bad("not an OCI archive: it has no index.json");
  }
  auto index = json::parse(*text, nullptr, false);
  if (!index.is_object() || !index.contains("manifests") || !index["manifests"].is_array())
    return bad("not an OCI archive: its index.json is not an OCI index");
  auto& ms = index["manifests"];
  if (ms.size() != 1)
    return bad("the archive holds " + std::to_string(ms.size()) + " images; import an archive of exactly one");
  const json& m = ms[0];
  if (!m.is_object() || m.value("mediaType", "") != "application/vnd.oci.image.manifest.v1+json")
    return bad("the archive's image is not a single-platform OCI image manifest");
  std::string digest = m.value("digest", "");
  if (!valid_digest(digest)) return bad("the archive's index names an invalid digest");
  auto manifest = layout.read_file("blobs/sha256/" + digest.substr(7), 4 << 20);
  if (!manifest) return bad("the archive lacks its manifest blob " + digest);
  if ("sha256:" + crypto::sha256_hex(*manifest) != digest)
    return bad("the archive's manifest does not match its digest " + digest);
  json fixed = {{"schemaVersion", 2},
                {"manifests", json::array({{{"mediaType", m["mediaType"]},
                                            {"digest", digest},
                                            {"size", static_cast<std::int64_t>(manifest->size())},
                                            {"annotations", {{kRefName, "import"}}}}})}};
  TRY_STATUS(layout.write_file("index.json", fixed.dump(), 0644));
  return digest;
}

Result<Prepared> prepare_oci_archive(Service::Impl& svc, data::BlobStore& blobs, const json& p, const Dir& work,
                                     const fs::path& work_path) {
  auto limits = svc.limits();
  TRY(decrypt_to(blobs, p.value("blob_id", ""), 0, -1, work, "image.tar", limits.uid));
  auto uid = static_cast<std::uint32_t>(limits.uid);
  auto layout = TRY(work.make_fresh("layout", 0700, Owner{uid, uid}));
  auto archive = TRY(work.open_file("image.tar", O_RDONLY));
  ToolOptions o{.cwd_fd = layout.fd(), .keep_fds = {archive.get()}, .timeout_ms = limits.timeout_ms,
                .env = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/nonexistent", "LANG=C.UTF-8"}};
  if (::geteuid() == 0) o.uid = static_cast<uid_t>(uid);
  // GNU tar as the unpack uid: members with `..` are skipped, leading `/` stripped, symlinks that
  // could redirect a later member are made placeholders until the end, no owners or devices.
  auto r = TRY(run_tool({"tar", "--extract", "--file", "/proc/self/fd/3", "--no-same-owner", "--no-same-permissions",
                         "--no-overwrite-dir"},
                        o));
  if (r.timed_out) return fail(ErrorCode::kUnavailable, "image-unpack", "reading the archive timed out");
  if (r.status != 0) return bad("the archive could not be read: " + r.err.substr(0, 300));
  Prepared out;
  out.digest = TRY(one_manifest(layout));
  if ((out.stored = TRY(root_stored(svc, out.digest)))) return out;
  out.unpacked = TRY(unpack_oci((work_path / "layout").string() + ":import", work_path / "root", limits));
  return out;
}

Status run_import(Service::Impl& svc, data::BlobStore& blobs, const Image& im, const json& p) {
  auto work_path = svc.tmp_path("import");
  auto tmp = TRY(Dir::open_or_create(svc.tmp_dir(), 0700));
  auto work = TRY(tmp.make_fresh(work_path.filename().string(), 0700));
  struct Cleanup {
    const Dir& tmp;
    std::string name;
    ~Cleanup() { (void)tmp.remove(name); }
  } cleanup{tmp, work_path.filename().string()};
  std::string format = p.value("format", "");
  auto prepared = format == "oci-archive" ? prepare_oci_archive(svc, blobs, p, work, work_path)
                                          : prepare_squashfs(svc, blobs, p, work, work_path);
  if (!prepared) return std::unexpected(prepared.error());
  if (prepared->stored) {
    auto root = TRY(svc.db.read([&](db::Tx& tx) { return store::get_root(tx, prepared->digest); }));
    if (!root) return internal("the stored root of " + prepared->digest + " went meanwhile; retry");
    TRY(svc.ingest_root(im.id, prepared->digest, {}, root->software, root->size));
    return {};
  }
  auto software = describe(work_path / "root" / "rootfs");
  TRY(svc.ingest_root(im.id, prepared->digest, work_path / "root", software, prepared->unpacked.bytes));
  return {};
}

}  // namespace

Status import_task(Service::Impl& svc, data::BlobStore& blobs, const json& payload) {
  std::string id = payload.value("image_id", "");
  auto im = TRY(svc.db.read([&](db::Tx& tx) { return store::get_image(tx, id); }));
  if (!im || im->state != "pending") return {};  // removed meanwhile, or a rerun after it finished
  auto done = run_import(svc, blobs, *im, payload);
  if (done) return {};
  // A transient fault (the disk, a timeout) is retried; a bad file fails the image at once.
  auto code = done.error().code;
  bool transient = code == ErrorCode::kInternal || code == ErrorCode::kUnavailable || code == ErrorCode::kAborted;
  if (transient && payload.value("attempt", 1) < 2) return done;
  spdlog::info("images: import of {} ({}) failed: {}", im->id, im->source, done.error().detail);
  return svc.db.write_tx([&](db::Tx& tx) -> Status {
    return store::set_image_failed(tx, im->id, done.error().detail, svc.clock.now_ms());
  });
}

}  // namespace atrium::images::detail
