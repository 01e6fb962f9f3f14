#include "images/build.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "audit/audit.hpp"
#include "core/ids.hpp"
#include "images/build_store.hpp"
#include "jobs/store.hpp"
#include "projects/projects.hpp"
#include "core/dir.hpp"
#include "images/tool.hpp"

namespace atrium::images {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr std::size_t kMaxSpecBytes = 256 << 10, kMaxFileBytes = 1 << 20;

Error invalid(const std::string& field, const std::string& detail) {
  return Error(field == "ref" ? ErrorCode::kInvalidArgument : ErrorCode::kUnprocessable, "invalid-build", detail)
      .with("field", field);
}
Error unavailable(const char* what) {
  return Error(ErrorCode::kUnavailable, "images-unavailable", std::string("image builds need the images module: ") + what);
}

// Runs a tool, as `uid` when we are root, with a small fixed environment, in `home` (entered by
// fd before the uid changes: the directories above it may be root's only).
Status run_as(std::int64_t uid, const std::vector<std::string>& argv, const fs::path& home) {
  auto cwd = TRY(Dir::open(home));
  ToolOptions o;
  o.cwd_fd = cwd.fd();
  if (::geteuid() == 0 && uid != 0) o.uid = static_cast<uid_t>(uid);
  o.env = {"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + home.string(), "LC_ALL=C.UTF-8"};
  auto r = TRY(run_tool(argv, o));
  if (r.timed_out || r.status != 0)
    return fail(ErrorCode::kInternal, "image-build",
                fmt::format("{} {} failed ({}): {}", argv[0], argv.size() > 1 ? argv[1] : "", r.status, r.err.substr(0, 2000)));
  return {};
}

// The manifest digest umoci recorded for `tag` in the layout's index.json.
Result<std::string> manifest_digest(const fs::path& layout, const std::string& tag) {
  std::ifstream f(layout / "index.json");
  auto index = json::parse(f, nullptr, false);
  if (index.is_discarded() || !index.contains("manifests"))
    return fail(ErrorCode::kInternal, "image-build", "the built image's index.json is unreadable");
  for (const auto& m : index["manifests"])
    if (m.value("annotations", json::object()).value("org.opencontainers.image.ref.name", "") == tag)
      return m.value("digest", std::string());
  return fail(ErrorCode::kInternal, "image-build", "the built image has no tag " + tag);
}

std::int64_t owner_of(const fs::path& p) {
  struct stat st;
  return ::lstat(p.c_str(), &st) == 0 ? static_cast<std::int64_t>(st.st_uid) : -1;
}

}  // namespace

json Build::json() const {
  nlohmann::json j = {{"id", id},
                      {"project_id", project_id},
                      {"name", name},
                      {"spec", spec_path},
                      {"ref", ref},
                      {"commit", commit},
                      {"base_digest", base_digest},
                      {"inputs_hash", inputs_hash},
                      {"state", state},
                      {"job_id", job_id.empty() ? nlohmann::json(nullptr) : nlohmann::json(job_id)},
                      {"image_id", image_id.empty() ? nlohmann::json(nullptr) : nlohmann::json(image_id)},
                      {"digest", digest.empty() ? nlohmann::json(nullptr) : nlohmann::json(digest)},
                      {"apt", inputs.value("apt", nlohmann::json::array())},
                      {"pip", inputs.value("pip", nlohmann::json::array())},
                      {"created_by", created_by},
                      {"created_ms", created_ms},
                      {"updated_ms", updated_ms}};
  if (!error.empty()) j["error"] = error;
  if (!job_id.empty()) j["log"] = "/api/v1/jobs/" + job_id + "/logs";
  return j;
}

Builder::Builder(db::Database& db, const Clock& clock, jobs::Service& jobs, BuildSettings s)
    : db_(db), clock_(clock), jobs_(jobs), settings_(std::move(s)) {}

Status Builder::start() {
  mirror_dirs_ = TRY(mirror_dirs(settings_.mirrors));
  std::error_code ec;
  fs::create_directories(settings_.dir, ec);
  if (ec) return fail(ErrorCode::kInternal, "image-build", "cannot make " + settings_.dir.string() + ": " + ec.message());
  fs::permissions(settings_.dir, fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec, ec);
  return {};
}

void Builder::add_tasks(tasks::Queue& queue) {
  queue.handle(std::string(kFinishKind), [this](const tasks::Task& t) { return finish(t); });
}

Result<std::optional<Build>> Builder::get(db::Tx& tx, const std::string& project_id, const std::string& build_id) const {
  auto b = TRY(get_build(tx, build_id));
  if (!b || b->project_id != project_id) return std::optional<Build>();
  return b;
}

Result<Builder::Requested> Builder::request(db::Tx& tx, const Actor& actor, const projects::Project& p,
                                            const std::string& spec_path, const std::optional<std::string>& ref,
                                            Millis now) {
  if (!settings_.read_file) return fail(unavailable("read_file"));
  auto commit = TRY(jobs_.resolve_commit(p.id, ref));
  if (!commit)
    return fail(invalid(ref ? "ref" : "spec", ref ? "ref: '" + ref->substr(0, 100) + "' names no branch, tag or commit"
                                                   : "the project's repository has no commits yet"));
  auto text = TRY(settings_.read_file(p.id, *commit, spec_path, kMaxSpecBytes));
  if (!text) return fail(invalid("spec", "spec: no file " + spec_path + " at commit " + commit->substr(0, 12)));
  auto spec = TRY(parse_build_spec(*text, spec_path));
  std::map<std::string, std::string> files;
  for (const auto& path : {spec.requirements, spec.apt_file}) {
    if (path.empty()) continue;
    auto content = TRY(settings_.read_file(p.id, *commit, path, kMaxFileBytes));
    if (!content) return fail(invalid("spec", "spec: " + path + " (named by the spec) is not in the repository at " +
                                                  commit->substr(0, 12)));
    files[path] = *content;
  }
  TRY(build_inputs(spec, "", files));  // the files' lines checked before anything else is looked up
  if (!settings_.resolve_base) return fail(unavailable("resolve"));
  auto pin = settings_.resolve_base(tx, p, spec.base);
  if (!pin) {
    Error e = pin.error();
    e.extra["field"] = "image.base";
    return fail(std::move(e));
  }
  if (!*pin) return fail(invalid("image.base", "image.base names no image"));
  auto in = TRY(build_inputs(spec, (*pin)->digest, std::move(files)));

  Build b;
  b.id = new_id("imb", now);
  b.org_id = p.org_id;
  b.project_id = p.id;
  b.group_id = p.group_id;
  b.name = spec.name;
  b.spec_path = spec_path;
  b.ref = ref.value_or("");
  b.commit = *commit;
  b.base_digest = in.base_digest;
  b.inputs_hash = inputs_hash(in, settings_.mirrors);
  b.inputs = {{"apt", in.apt}, {"pip", in.pip}, {"files", build_files(in, mirror_dirs_)}};
  b.created_by = actor.user_id;
  b.created_ms = b.updated_ms = now;

  Requested out;
  for (auto& earlier : TRY(ready_builds(tx, p.org_id, b.inputs_hash))) {
    if (!TRY(image_ready(tx, earlier.image_id))) continue;  // removed since
    auto visible = settings_.resolve_base(tx, p, earlier.digest);  // the project's own or org-wide
    if (!visible || !*visible) continue;
    b.state = "ready";
    b.image_id = earlier.image_id;
    b.digest = earlier.digest;
    out.cached = true;
    break;
  }
  if (!out.cached && TRY(image_name_taken(tx, p.org_id, p.id, spec.name)))
    return fail(Error(ErrorCode::kAlreadyExists, "image-name-taken",
                      "image.name: the project has an image named " + spec.name +
                          " already; name the new one differently or remove the old one")
                    .with("field", "image.name"));
  if (!out.cached) {
    jobs::SubmitRequest sr;
    sr.project_id = p.id;
    sr.org_id = p.org_id;
    sr.group_id = p.group_id;
    sr.name = "image build: " + spec.name;
    sr.argv = build_argv();
    sr.env = {{"HOME", "/root"}, {"LANG", "C.UTF-8"}};
    sr.resources.cpus = settings_.cpus;
    sr.resources.mem_mb = settings_.mem_mb;
    sr.resources.time_limit = settings_.time_limit;
    sr.notify = std::string(kNotify);
    sr.partition = std::string(jobs::kLocalPartition);  // the build writes this server's image store
    auto sub = TRY(jobs_.submit(tx, actor, sr, now));
    b.job_id = sub.jobs.front().id();
    // Its lifecycle is the build's: no hold, release or requeue through the jobs API.
    TRY_STATUS(jobs::set_managed_by(tx, b.job_id, "images"));
    b.state = "running";
  }
  TRY_STATUS(insert_build(tx, b));
  TRY_STATUS(audit::record(tx, actor,
                           {p.org_id, "image.build", "image_build", b.id,
                            {{"project_id", p.id}, {"spec", spec_path}, {"commit", *commit}, {"name", spec.name},
                             {"cached", out.cached}, {"job_id", b.job_id}, {"inputs_hash", b.inputs_hash}}},
                           now));
  out.build = std::move(b);
  return out;
}

Status Builder::prepare(const jobs::JobRecord& job, sandbox::Spec& spec) {
  auto b = TRY(db_.read([&](db::Tx& tx) { return build_of_job(tx, job.id()); }));
  if (!b) return {};
  if (!settings_.rootfs) return fail(unavailable("rootfs"));
  fs::path base = TRY(settings_.rootfs(b->base_digest));
  std::int64_t uid = sandbox::probe().root ? job.uid : static_cast<std::int64_t>(::getuid());
  fs::path dir = build_dir(b->id);
  std::error_code ec;
  fs::remove_all(dir, ec);  // what an earlier start of this build left
  fs::create_directory(dir, ec);
  if (ec) return fail(ErrorCode::kInternal, "image-build", "cannot make " + dir.string() + ": " + ec.message());
  ::chmod(dir.c_str(), 0700);
  // A writable copy of the base root, all of it owned by the build's uid (root inside).
  TRY_STATUS(run_as(0, {settings_.cp, "-a", "--reflink=auto", base.string(), (dir / "rootfs").string()}, dir));
  TRY_STATUS(run_as(0, {"chown", "-hRP", fmt::format("{}:{}", uid, uid), dir.string()}, dir));
  fs::create_directory(dir / "inputs", ec);
  const json files = b->inputs.value("files", json::object());  // kept: items() refers into it
  for (const auto& [name, content] : files.items()) {
    std::ofstream f(dir / "inputs" / name, std::ios::binary);
    f << content.get<std::string>();
    if (!f) return fail(ErrorCode::kInternal, "image-build", "cannot write the build's " + name);
  }
  spec.rootfs = (dir / "rootfs").string();
  spec.rootfs_writable = true;
  spec.root_inside = true;
  spec.network = false;
  spec.mounts.push_back({(dir / "inputs").string(), "/atrium/build", false});
  if (!mirror_dirs_.apt_dir.empty()) spec.mounts.push_back({mirror_dirs_.apt_dir, "/atrium/mirror/apt", false});
  if (!mirror_dirs_.pip_dir.empty()) spec.mounts.push_back({mirror_dirs_.pip_dir, "/atrium/mirror/pip", false});
  return {};
}

Status Builder::on_job_end(db::Tx& tx, const compute::Job& job, const compute::Transition& t) {
  tasks::NewTask task{.kind = std::string(kFinishKind),
                      .key = "images.build_finish:" + job.id,
                      .payload = {{"job_id", job.id},
                                  {"state", std::string(compute::state_name(t.to))},
                                  {"exit_code", t.exit_code ? json(*t.exit_code) : json(nullptr)},
                                  {"cause", t.cause}}};
  TRY(tasks::enqueue(tx, task, t.at));
  return {};
}

Status Builder::finish(const tasks::Task& task) {
  const std::string job_id = task.payload.value("job_id", "");
  auto b = TRY(db_.read([&](db::Tx& tx) { return build_of_job(tx, job_id); }));
  if (!b || b->state != "running") return {};
  fs::path dir = build_dir(b->id);
  std::string state = task.payload.value("state", ""), error;
  if (state != "COMPLETED") {
    std::string code = task.payload["exit_code"].is_number() ? fmt::format(" (exit {})", task.payload["exit_code"].get<int>()) : "";
    error = fmt::format("the build job {} ended {}{}: its log is /api/v1/jobs/{}/logs", job_id, state, code, job_id);
  } else if (auto st = pack_and_ingest(*b, owner_of(dir)); !st) {
    error = "packing the built image failed: " + st.error().detail;
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (!error.empty()) {
    spdlog::info("image build {} failed: {}", b->id, error);
    return db_.write([&](db::Tx& tx) -> Status {
      return finish_build(tx, b->id, "failed", error, "", "", clock_.now_ms());
    });
  }
  return {};
}

Status Builder::pack_and_ingest(const Build& b, std::int64_t uid) {
  if (!settings_.ingest) return fail(unavailable("ingest"));
  fs::path dir = build_dir(b.id), layout = dir / "oci", pack = dir / "pack";
  const auto& u = settings_.umoci;
  // An empty image unpacked (for umoci's bookkeeping), its root replaced by the built one, repacked:
  // one layer holding the whole root, owners recorded as root (rootless).
  // umoci runs in the build directory (relative paths): as the build's uid it may not pass above it.
  TRY_STATUS(run_as(uid, {u, "init", "--layout", "oci"}, dir));
  TRY_STATUS(run_as(uid, {u, "new", "--image", "oci:empty"}, dir));
  TRY_STATUS(run_as(uid, {u, "unpack", "--rootless", "--image", "oci:empty", "pack"}, dir));
  std::error_code ec;
  fs::remove(pack / "rootfs", ec);
  fs::rename(dir / "rootfs", pack / "rootfs", ec);
  if (ec) return fail(ErrorCode::kInternal, "image-build", "cannot move the built root: " + ec.message());
  TRY_STATUS(run_as(uid,
                      {u, "repack", "--history.created_by=atrium image build",
                       "--image", "oci:built", "pack"},
                      dir));
  BuiltImage img{.org_id = b.org_id,
                 .project_id = b.project_id,
                 .group_id = b.group_id,
                 .name = b.name,
                 .created_by = b.created_by,
                 .source = "build:" + b.spec_path + "@" + b.commit,
                 .inputs_hash = b.inputs_hash,
                 .oci_ref = layout.string() + ":built",
                 .digest = TRY(manifest_digest(layout, "built")),
                 .rootfs = pack / "rootfs"};
  std::string image_id = TRY(settings_.ingest(img));
  return db_.write([&](db::Tx& tx) -> Status {
    return finish_build(tx, b.id, "ready", "", image_id, img.digest, clock_.now_ms());
  });
}

}  // namespace atrium::images
