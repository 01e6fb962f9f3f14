// Pulls from OCI registries: resolve (skopeo inspect) at the request, copy and unpack in the
// images.pull task.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <utility>

#include <spdlog/spdlog.h>

#include "audit/audit.hpp"
#include "core/crypto.hpp"
#include "core/dir.hpp"
#include "core/ids.hpp"
#include "images/service_impl.hpp"
#include "images/store.hpp"
#include "tasks/tasks.hpp"

namespace atrium::images {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

bool has(const std::string& text, std::initializer_list<const char*> needles) {
  for (const char* n : needles)
    if (text.find(n) != std::string::npos) return true;
  return false;
}

// skopeo's failure, as a problem a researcher can act on (never the raw output alone).
Error classify(const std::string& err, const Reference& r) {
  std::string what = r.host + "/" + r.repo + (r.digest.empty() ? ":" + r.tag : "@" + r.digest);
  if (has(err, {"unauthorized", "authentication required", "denied", "401 ", "403 ", "Forbidden"}))
    return Error(ErrorCode::kUnprocessable, "registry-refused",
                 "the registry " + r.host + " refused access to " + r.repo +
                     ": add credentials for " + r.host + " to the organisation (POST /api/v1/orgs/{org}/registries) "
                     "or check them")
        .with("field", "source")
        .with("host", r.host);
  if (has(err, {"manifest unknown", "name unknown", "not found", "404 ", "NAME_UNKNOWN", "MANIFEST_UNKNOWN"}))
    return Error(ErrorCode::kUnprocessable, "image-not-found", what + " does not exist")
        .with("field", "source")
        .with("host", r.host);
  if (has(err, {"server gave HTTP response to HTTPS client"}))
    return Error(ErrorCode::kUnprocessable, "registry-unreachable",
                 r.host + " speaks plain HTTP; an administrator may list it in images.insecure_registries")
        .with("field", "source")
        .with("host", r.host);
  if (has(err, {"connection refused", "no such host", "i/o timeout", "dial tcp", "TLS handshake", "x509"}))
    return Error(ErrorCode::kUnprocessable, "registry-unreachable", "the registry " + r.host + " cannot be reached")
        .with("field", "source")
        .with("host", r.host);
  // Anything else: its words stay in the server's log (a host may be any address the server
  // reaches: its answers are not the caller's to read).
  spdlog::info("images: {}: {}", what, err.substr(0, 400));
  return Error(ErrorCode::kUnprocessable, "registry-error",
               "the registry " + r.host + " could not serve " + what + " (the server's log has its answer)")
      .with("field", "source")
      .with("host", r.host);
}

// A work directory under tmp/, removed with everything in it when it goes out of scope.
struct TmpDir {
  fs::path path;
  explicit TmpDir(fs::path p) : path(std::move(p)) {}
  TmpDir(TmpDir&& o) noexcept : path(std::exchange(o.path, {})) {}
  TmpDir(const TmpDir&) = delete;
  TmpDir& operator=(const TmpDir&) = delete;
  ~TmpDir() {
    std::error_code ec;
    if (!path.empty()) fs::remove_all(path, ec);
  }
};

Result<TmpDir> make_tmp(const Service::Impl& im, std::string_view what) {
  TmpDir t{im.tmp_path(what)};
  std::error_code ec;
  fs::create_directory(t.path, ec);
  if (ec) return internal("cannot create " + t.path.string() + ": " + ec.message());
  fs::permissions(t.path, fs::perms::owner_all, ec);
  return t;
}

// umoci and skopeo write index.json (and blobs) 0600: the unpack uid reads them through an fd, so
// the layout's files become 0644 (nothing above oci/ lets anyone else reach them).
Status readable_layout(const fs::path& oci) {
  auto d = TRY(Dir::open(oci));
  auto fix = [](const Dir& dir, const std::string& name, const struct stat& st) -> Status {
    mode_t want = S_ISDIR(st.st_mode) ? 0755 : 0644;
    if ((S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) && (st.st_mode & 07777) != want &&
        ::fchmodat(dir.fd(), name.c_str(), want, 0) != 0)
      return internal("cannot chmod " + name + " in the image layout");
    return {};
  };
  TRY_STATUS(d.walk(fix));
  return d.chmod(0755);
}

}  // namespace

Result<std::string> Service::Impl::auth_file(const std::string& org_id, const std::string& host, const fs::path& dir) {
  auto c = TRY(db.read([&](db::Tx& tx) { return store::find_credential(tx, org_id, host); }));
  if (!c) return std::string();
  auto sealed = crypto::base64_decode(c->password_sealed);
  auto password = sealed ? crypto::aead_open(s.key, *sealed, c->id) : std::nullopt;
  if (!password) return internal("the credentials for " + host + " cannot be opened (another master key?)");
  json auth = {{"auths", {{host, {{"auth", crypto::base64(c->username + ":" + *password)}}}}}};
  auto d = TRY(Dir::open(dir));
  TRY_STATUS(d.write_file("auth.json", auth.dump(), 0600));
  return (dir / "auth.json").string();
}

Result<Resolved> Service::Impl::resolve_remote(const Reference& r, const std::string& org_id) {
  auto tmp = TRY(make_tmp(*this, "inspect"));
  auto auth = TRY(auth_file(org_id, r.host, tmp.path));
  bool insecure = host_matches(s.insecure_registries, r.host);
  auto inspect = [&](const std::string& ref) -> Result<std::string> {
    std::vector<std::string> args = {s.skopeo, "inspect", "--raw", "--retry-times", "0"};
    if (insecure) args.push_back("--tls-verify=false");
    if (auth.empty()) args.push_back("--no-creds");
    else args.insert(args.end(), {"--authfile", auth});
    args.push_back(ref);
    auto res = TRY(run_tool(args, {.timeout_ms = 60'000, .max_output = 4 << 20, .env = tool_env(tmp.path)}));
    if (res.timed_out)
      return fail(Error(ErrorCode::kUnprocessable, "registry-unreachable", "the registry " + r.host + " did not answer")
                      .with("field", "source"));
    if (res.status != 0) return fail(classify(res.err, r));
    return res.out;
  };
  auto raw = TRY(inspect(r.text()));
  auto m = TRY(parse_manifest(raw));
  std::string served = digest_of(raw);
  if (!r.digest.empty() && served != r.digest)
    return fail(Error(ErrorCode::kUnprocessable, "digest-mismatch",
                      "the registry serves " + served + " for " + r.repo + "@" + r.digest + ", not that digest")
                    .with("field", "source"));
  if (!m.index) return Resolved{served, m.layers_bytes};
  std::string platform = TRY(pick_platform(m, arch()));
  auto raw2 = TRY(inspect(r.pinned(platform)));
  if (digest_of(raw2) != platform)
    return fail(Error(ErrorCode::kUnprocessable, "digest-mismatch",
                      "the registry's manifest for " + platform + " does not match its digest")
                    .with("field", "source"));
  auto m2 = TRY(parse_manifest(raw2));
  if (m2.index) return fail(ErrorCode::kUnprocessable, "bad-manifest", "an index inside an index is not supported");
  return Resolved{platform, m2.layers_bytes};
}

Result<Image> Service::Impl::start_pull(const NewImage& req) {
  auto ref = TRY(parse_reference(req.source));
  if (!s.allowed_registries.empty() && !host_matches(s.allowed_registries, ref.host))
    return fail(Error(ErrorCode::kUnprocessable, "registry-not-allowed",
                      "this server does not pull from " + ref.host + " (images.allowed_registries)")
                    .with("field", "source")
                    .with("host", ref.host));
  auto resolved = TRY(resolve_remote(ref, req.org_id));
  if (resolved.layers_bytes > s.max_image_bytes)
    return fail(Error(ErrorCode::kPayloadTooLarge, "image-too-large",
                      "the image's layers hold " + std::to_string(resolved.layers_bytes) +
                          " bytes, over images.max_image_bytes (" + std::to_string(s.max_image_bytes) + ")")
                    .with("field", "source"));
  Millis now = clock.now_ms();
  Image im;
  im.id = new_id("img", now);
  im.org_id = req.org_id, im.project_id = req.project_id, im.group_id = req.group_id, im.name = req.name;
  im.digest = resolved.digest;
  im.source = ref.digest.empty() ? ref.text() : ref.pinned(ref.digest);
  im.created_by = req.actor.user_id;
  im.created_ms = im.updated_ms = now;
  std::string pinned = ref.pinned(resolved.digest);
  return db.write([&](db::Tx& tx) -> Result<Image> {
    // A failed image gives its name back to the next pull.
    if (auto old = TRY(store::find_by_name(tx, im.org_id, im.project_id, im.name)); old && old->state == "failed")
      TRY(store::delete_image(tx, old->id, old->version));
    auto root = TRY(store::get_root(tx, im.digest));
    bool held = TRY(store::subjects_hold(tx, im.org_id, im.group_id, im.created_by, im.digest));
    std::int64_t size = root ? root->size : resolved.layers_bytes;
    TRY_STATUS(check_quota(tx, im.org_id, im.group_id, im.created_by, held ? 0 : size));
    if (root && root->state == "ready") {
      im.state = "ready", im.size_bytes = root->size, im.software = root->software;
      TRY_STATUS(store::insert_image(tx, im));
    } else {
      im.state = "pending", im.size_bytes = size;
      TRY_STATUS(store::insert_image(tx, im));
      auto claimed = TRY(store::claim_root(tx, im.digest, size, im.id, now));
      if (claimed.attempt == im.id)  // the first pull of this digest; later ones wait for it
        TRY(tasks::enqueue(tx,
                           {.kind = "images.pull", .key = "images.pull:" + im.id,
                            .payload = {{"digest", im.digest}, {"ref", pinned}, {"org_id", im.org_id},
                                        {"host", ref.host}},
                            .max_attempts = 3},
                           now));
    }
    if (req.make_default) TRY_STATUS(store::set_default(tx, im.project_id, im.org_id, im.id, now));
    TRY_STATUS(audit::record(tx, req.actor,
                             {im.org_id, "image.pull", "image", im.id,
                              {{"name", im.name}, {"source", im.source}, {"digest", im.digest},
                               {"project_id", im.project_id}, {"state", im.state}}},
                             now));
    return im;
  });
}

Status Service::Impl::pull_task(const json& payload) {
  std::string digest = payload.value("digest", ""), ref = payload.value("ref", "");
  std::string org_id = payload.value("org_id", ""), host = payload.value("host", "");
  if (!valid_digest(digest)) return invalid("images.pull: bad digest");
  auto root = TRY(db.read([&](db::Tx& tx) { return store::get_root(tx, digest); }));
  if (!root) return {};  // every image of it was removed meanwhile
  if (root->state == "ready" && fs::exists(root_dir(digest) / "rootfs")) {
    TRY(ingest_root("", digest, {}, root->software, root->size));
    return {};
  }
  auto work = TRY(make_tmp(*this, "pull"));
  auto failed = [&](const std::string& why) -> Status {
    spdlog::warn("images: pull of {} failed: {}", ref, why);
    return fail_digest(digest, why);
  };
  auto auth = auth_file(org_id, host, work.path);
  if (!auth) return failed(auth.error().detail);
  std::vector<std::string> args = {s.skopeo, "--insecure-policy", "copy", "--quiet", "--retry-times", "2"};
  if (host_matches(s.insecure_registries, host)) args.push_back("--src-tls-verify=false");
  if (auth->empty()) args.push_back("--src-no-creds");
  else args.insert(args.end(), {"--src-authfile", *auth});
  args.insert(args.end(), {ref, "oci:" + oci_dir().string() + ":" + hex_of(digest)});
  {
    std::lock_guard lock(layout_mu);
    auto r = run_tool(args, {.timeout_ms = s.pull_timeout_ms, .env = tool_env(work.path)});
    if (!r) return failed(r.error().detail);
    if (r->timed_out) return failed("the copy from the registry timed out (images.pull_timeout_s)");
    if (r->status != 0) {
      auto ref_parsed = parse_reference(ref);
      return failed(ref_parsed ? classify(r->err, *ref_parsed).detail : r->err.substr(0, 400));
    }
    if (auto st = readable_layout(oci_dir()); !st) return failed(st.error().detail);
  }
  auto u = unpack_oci(oci_dir().string() + ":" + hex_of(digest), work.path / "root", limits());
  if (!u) {
    {
      std::lock_guard lock(layout_mu);
      (void)run_tool({s.umoci, "rm", "--image", oci_dir().string() + ":" + hex_of(digest)},
                     {.timeout_ms = 60'000, .env = tool_env(work.path)});
    }
    return failed(u.error().detail);
  }
  auto software = describe(work.path / "root" / "rootfs");
  auto done = ingest_root("", digest, work.path / "root", software, u->bytes);
  if (!done) return failed(done.error().detail);
  return {};
}

}  // namespace atrium::images
