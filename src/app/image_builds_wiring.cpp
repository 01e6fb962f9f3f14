#include "app/image_builds_wiring.hpp"

#include "images/build_routes.hpp"

namespace atrium::app {

namespace {

images::BuildSettings image_build_settings(const Settings& c, images::Service& images, const vcs::Repos& repos) {
  images::BuildSettings s;
  s.dir = std::filesystem::path(c.server.data_dir) / "images" / "builds";
  s.mirrors = {.apt = c.image_builds.apt_mirror, .pip = c.image_builds.pip_index_url};
  s.cpus = c.image_builds.cpus;
  s.mem_mb = c.image_builds.mem_mb;
  s.time_limit = Millis{c.image_builds.time_limit_s} * 1000;
  s.read_file = [&repos](const std::string& project_id, const std::string& commit, const std::string& path,
                         std::size_t max) -> Result<std::optional<std::string>> {
    auto e = TRY(repos.entry(project_id, commit, path));
    if (!e || e->type != "blob") return std::optional<std::string>();
    if (e->size > static_cast<std::int64_t>(max))
      return fail(Error(ErrorCode::kUnprocessable, "invalid-build", path + " is larger than " +
                                                                          std::to_string(max) + " bytes")
                      .with("field", "spec"));
    return std::optional<std::string>(TRY(repos.blob(project_id, e->id, max)));
  };
  s.resolve_base = [&images](db::Tx& tx, const projects::Project& p, std::string_view text) {
    return images.resolve(tx, p, text);
  };
  s.rootfs = [&images](const std::string& digest) { return images.rootfs(digest); };
  s.ingest = [&images](const images::BuiltImage& b) { return images::ingest_built(images, b); };
  return s;
}

}  // namespace

std::shared_ptr<ImageBuilds> chain_image_builds(jobs::Settings& js) {
  auto w = std::make_shared<ImageBuilds>();
  auto prepare = js.prepare;
  js.prepare = [prepare, w](const jobs::JobRecord& job, sandbox::Spec& spec) -> Status {
    if (w->builder) TRY_STATUS(w->builder->prepare(job, spec));
    return prepare ? prepare(job, spec) : Status{};
  };
  auto on_end = js.on_end;
  js.on_end = [on_end, w](db::Tx& tx, const compute::Job& j, const compute::Transition& t,
                          const std::string& notify) -> Status {
    if (notify == images::Builder::kNotify) return w->builder ? w->builder->on_job_end(tx, j, t) : Status{};
    return on_end ? on_end(tx, j, t, notify) : Status{};
  };
  return w;
}

Status ImageBuilds::start(const Settings& c, db::Database& db, const Clock& clock, jobs::Service& compute,
                          images::Service& images, const vcs::Repos& repos, tasks::Queue& queue, http::Api& api) {
  auto b = std::make_unique<images::Builder>(db, clock, compute, image_build_settings(c, images, repos));
  if (auto st = b->start(); !st) return fail(ErrorCode::kInternal, "config", "image builds: " + st.error().detail);
  b->add_tasks(queue);
  images::add_build_routes(api, *b);
  builder = std::move(b);
  return {};
}

}  // namespace atrium::app
