// POST /api/v1/projects/{id}/images/build and GET /api/v1/projects/{id}/images/builds/{build_id}.
#include "images/build_routes.hpp"

#include "projects/projects.hpp"
#include "projects/routes.hpp"
#include "vcs/git.hpp"

namespace atrium::images {

using http::Access;
using http::Context;
using http::Response;
using nlohmann::json;

namespace {

Result<Response> request_build(Builder& b, Context& ctx) {
  auto p = TRY(projects::load_in_route(ctx, ctx.t(), {"jobs", "create"}));
  TRY_STATUS(projects::check_writable(p));
  auto body = TRY(ctx.json());
  TRY_STATUS(body.only({"spec", "ref"}));
  std::string spec = TRY(vcs::repo_path(TRY(body.opt_str("spec", 1024)).value_or("atrium-env.toml"), "spec"));
  auto ref = TRY(body.opt_str("ref", 255));
  if (ref && ref->empty()) ref.reset();
  // The build reads the repository: the code's permission, before any ref is resolved.
  TRY_STATUS(ctx.authorize({"code", "read"}, projects::target_of(p)));
  auto out = TRY(b.request(ctx.t(), ctx.actor(), p, spec, ref, ctx.now()));
  json j = out.build.json();
  j["cached"] = out.cached;
  return Response::json(out.cached ? 200 : 201, j)
      .header("Location", "/api/v1/projects/" + p.id + "/images/builds/" + out.build.id);
}

Result<Response> show_build(Builder& b, Context& ctx) {
  auto p = TRY(projects::load_in_route(ctx, ctx.t(), {"jobs", "read"}));
  auto build = TRY(b.get(ctx.t(), p.id, ctx.param("build_id")));
  if (!build) return not_found("image build");
  return Response::json(200, build->json());
}

}  // namespace

void add_build_routes(http::Api& api, Builder& b) {
  json obj = {{"type", "object"}};
  json schema = {{"type", "object"},
                 {"additionalProperties", false},
                 {"properties",
                  {{"spec",
                    {{"type", "string"},
                     {"description", "path of the build spec in the project's repository (default atrium-env.toml)"}}},
                   {"ref",
                    {{"type", "string"},
                     {"description", "branch, tag or commit to read the spec at (default: the default branch)"}}}}}};
  api.add({"POST", "/api/v1/projects/{id}/images/build", Access::require("jobs", "create"),
           {"Build an image from a spec in the project's repository: 201 with the build (its job streams the log), or "
            "200 with an earlier build of the same inputs (cached: true, no job)",
            "images", schema, obj, 201},
           [&b](Context& ctx) { return request_build(b, ctx); }});
  api.add({"GET", "/api/v1/projects/{id}/images/builds/{build_id}", Access::require("jobs", "read"),
           {"Show an image build: running, ready (its image) or failed (why, and its job's log)", "images", nullptr, obj},
           [&b](Context& ctx) { return show_build(b, ctx); }});
}

}  // namespace atrium::images
