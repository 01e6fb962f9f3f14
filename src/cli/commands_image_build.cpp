// image build: build an image from a spec in a project's repository (docs/images.md), optionally
// following the build job's log until it ends.
#include <chrono>

#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "cli/table.hpp"
#include "core/clock.hpp"

namespace atrium::cli {

using nlohmann::json;

void add_image_build(CLI::App* image, const Ctx& ctx) {
  struct Args {
    std::string project, spec;
    std::optional<std::string> ref;
    bool follow = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = image->add_subcommand("build", "Build an image from a spec file in a project's repository "
                                             "(served from cache when the same inputs were built before)");
  cmd->add_option("PROJECT", a->project, "Project: ORG/PROJECT or its id (prj_...)")->required();
  cmd->add_option("SPEC", a->spec, "The spec's path in the repository, e.g. atrium-env.toml")->required();
  cmd->add_option("--ref", a->ref, "Branch, tag or commit to build from (default: the default branch)");
  cmd->add_flag("-f,--follow", a->follow, "Write the build's log until it ends, then its result");
  ctx->on_api(cmd, [ctx, a](ApiClient& api) -> Status {
    std::string pid = TRY(api.resolve_project(a->project));
    json body = {{"spec", a->spec}};
    if (a->ref) body["ref"] = *a->ref;
    ApiCall c{.method = "POST", .path = api_path({"projects", pid, "images", "build"}), .body = body};
    ApiReply r = TRY(api.send(c));
    json build = r.body;
    std::string job = build.value("job_id", json()).is_string() ? build["job_id"].get<std::string>() : "";
    if (a->follow && !job.empty()) {
      auto sleep = [](std::chrono::milliseconds d) { client_sleep_ms(d.count()); };
      // apt and pip write progress to stdout and errors to stderr: both, one after the other.
      TRY(stream_logs(api, {job, false, true, 0}, ctx->out(), sleep));
      TRY(stream_logs(api, {job, true, false, 0}, ctx->out(), sleep));
      ApiCall show{.path = api_path({"projects", pid, "images", "builds", build.value("id", "")})};
      // The finish (packing, ingest) runs after the job: wait for the build to leave "running".
      for (int i = 0; i < 600; ++i) {
        build = TRY(api.send(show)).body;
        if (build.value("state", "") != "running") break;
        client_sleep_ms(500);
      }
    }
    if (ctx->globals.json) {
      ctx->print_json(build);
      return {};
    }
    std::string state = build.value("state", "");
    if (build.value("cached", false)) ctx->out() << "Cached: ";
    ctx->out() << "Build " << sanitize(build.value("id", "")) << " " << sanitize(state);
    if (!job.empty()) ctx->out() << " (job " << sanitize(job) << ")";
    if (build.value("digest", json()).is_string()) ctx->out() << " " << sanitize(build["digest"].get<std::string>());
    ctx->out() << "\n";
    if (build.value("error", json()).is_string()) ctx->out() << sanitize(build["error"].get<std::string>()) << "\n";
    if (state == "failed") return fail(ErrorCode::kFailedPrecondition, "build-failed", "the image build failed");
    return {};
  });
}

}  // namespace atrium::cli
