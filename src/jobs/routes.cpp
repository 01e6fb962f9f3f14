#include "jobs/routes.hpp"
#include "jobs/usage.hpp"

#include <fcntl.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <charconv>
#include <set>
#include <filesystem>

#include "core/async.hpp"
#include "core/ids.hpp"
#include "core/text.hpp"
#include "data/store.hpp"
#include "projects/projects.hpp"
#include "secrets/secrets.hpp"

namespace atrium::jobs {
namespace {

using http::Access;
using http::Context;
using http::Response;
using http::Target;
using nlohmann::json;

constexpr std::int64_t kMaxScript = 256 * 1024;
constexpr std::int64_t kMaxLogChunk = 4 << 20;

Target job_target(const JobRecord& r, const std::string& project_role, const std::string& group_id) {
  return Target{.org_id = r.org_id(), .owner_id = r.user_id(), .group_id = group_id, .project_role = project_role};
}

// A job as a permission target for the caller (their role in its project included).
Result<Target> target_for(Context& ctx, const JobRecord& rec) {
  auto p = TRY(projects::get_for(ctx.t(), rec.project_id, ctx.who().user_id));
  return job_target(rec, p ? p->my_role : "", rec.job.assoc.group);
}

// Loads a job (or, for the array id, its first task) and authorizes `perm` on it.
Result<JobRecord> load(Context& ctx, const http::Permission& perm) {
  auto rec = TRY(get(ctx.t(), ctx.param("id")));
  if (!rec) {
    ctx.filtered();
    return not_found("job");
  }
  TRY_STATUS(ctx.authorize(perm, TRY(target_for(ctx, *rec))));
  return *rec;
}

// The route's project ({id}), authorized for the route's permission.
Result<projects::Project> load_project(Context& ctx) {
  auto p = TRY(projects::get_for(ctx.t(), ctx.param("id"), ctx.who().user_id));
  if (!p) {
    ctx.filtered();
    return not_found("project");
  }
  TRY_STATUS(ctx.authorize(projects::target_of(*p)));
  return *p;
}

Result<std::int64_t> query_int(Context& ctx, const char* name, std::int64_t def, std::int64_t lo, std::int64_t hi) {
  auto v = ctx.req.query_param(name);
  if (!v) return def;
  std::int64_t x = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), x);
  if (ec != std::errc() || p != v->data() + v->size() || x < lo || x > hi)
    return fail(Error(ErrorCode::kInvalidArgument, "invalid-query",
                      std::string(name) + " must be an integer in [" + std::to_string(lo) + ", " +
                          std::to_string(hi) + "]")
                    .with("field", name));
  return x;
}

Result<std::vector<std::string>> states_filter(Context& ctx) {
  std::vector<std::string> out;
  auto v = ctx.req.query_param("state");
  if (!v || v->empty()) return out;
  std::string_view s = *v;
  while (!s.empty()) {
    auto comma = s.find(',');
    auto part = s.substr(0, comma);
    std::string upper(part);
    for (auto& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    auto st = compute::parse_state(upper);
    if (!st)
      return fail(Error(ErrorCode::kInvalidArgument, "invalid-query", "unknown job state '" + std::string(part) + "'")
                      .with("field", "state"));
    out.emplace_back(compute::state_name(*st));
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return out;
}

// A job's output as it grows (GET .../logs?follow=true): ends when the job has ended and
// everything is sent, or after kFollowMax (the client resumes from its offset). It waits on
// inotify and on the service's job changes; the reads and the state check run on the worker pool.
// The run directory is made at launch, after the job turns RUNNING: until it exists, the deepest
// existing ancestor is watched for its creation.
class LogStream final : public async::Stream {
 public:
  LogStream(async::Runtime& rt, Service& svc, std::string job_id, std::filesystem::path path, std::int64_t offset,
            Millis deadline)
      : rt_(rt), svc_(svc), id_(std::move(job_id)), path_(std::move(path)), offset_(offset), deadline_(deadline),
        inotify_(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) {}
  ~LogStream() override {
    if (fd_ >= 0) ::close(fd_);
    if (inotify_ >= 0) ::close(inotify_);
  }
  async::Task<bool> next(std::string& out) override {
    auto changes = waiter_.wake_on(svc_.changes());
    for (;;) {
      drain_events();
      // Read what is there; only once the job has ended is "nothing more" final.
      auto [n, ended] = co_await async::on_pool(rt_, [this, &out] { return read_some(out); });
      if (n > 0 || cancelled_) co_return true;
      if (ended || svc_.clock().now_ms() >= deadline_) co_return false;  // the injected clock: tests end a follow
      if (inotify_ >= 0) co_await waiter_.wait_readable(inotify_, svc_.clock(), deadline_);
      else co_await waiter_.wait(svc_.clock(), std::min(deadline_, svc_.clock().now_ms() + 1000));
    }
  }
  void cancel() override {
    cancelled_ = true;
    waiter_.wake();
  }

 private:
  std::pair<ssize_t, bool> read_some(std::string& out) {
    watch();
    bool ended = !svc_.active(id_);
    if (fd_ < 0) fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) return {0, ended};
    char buf[64 * 1024];
    auto n = ::pread(fd_, buf, sizeof buf, offset_);
    if (n > 0) {
      out.append(buf, static_cast<std::size_t>(n));
      offset_ += n;
    }
    return {n, ended};
  }
  void watch() {
    if (inotify_ < 0 || watching_run_) return;
    const auto run = path_.parent_path();
    constexpr std::uint32_t kEvents = IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO;
    for (auto p = run; !p.empty() && p != p.parent_path(); p = p.parent_path()) {
      if (::inotify_add_watch(inotify_, p.c_str(), kEvents) >= 0) {
        watching_run_ = p == run;
        return;
      }
      if (p == run.parent_path().parent_path()) return;  // <data>/jobs exists from the start
    }
  }
  void drain_events() {
    char buf[4096];
    while (inotify_ >= 0 && ::read(inotify_, buf, sizeof buf) > 0) {
    }
  }

  async::Runtime& rt_;
  Service& svc_;
  std::string id_;
  std::filesystem::path path_;
  std::int64_t offset_;
  Millis deadline_;
  int fd_ = -1;
  int inotify_;
  bool watching_run_ = false;
  async::Waiter waiter_;
  bool cancelled_ = false;
};

constexpr Millis kFollowMax = 300'000;

Response list_response(Service& svc, const std::vector<JobRecord>& items, int limit) {
  json arr = json::array();
  for (auto& r : items) arr.push_back(svc.to_json(r));
  return http::paged(std::move(arr), limit, "id");
}

// command or script, and the name (default: the program's or "script").
Status parse_command(const http::JsonBody& b, SubmitRequest& r) {
  auto cmd = TRY(b.opt_str_list("command", 1024, 64 * 1024));
  auto script = TRY(b.opt_str("script", kMaxScript));
  if (cmd.has_value() == script.has_value())
    return fail(Error(ErrorCode::kInvalidArgument, "invalid-field", "give exactly one of command (argv) or script")
                    .with("field", "command"));
  if (cmd) {
    if (cmd->empty() || (*cmd)[0].empty())
      return fail(Error(ErrorCode::kInvalidArgument, "invalid-field", "command must name a program")
                      .with("field", "command"));
    for (auto& a : *cmd)
      if (a.find('\0') != std::string::npos)
        return fail(Error(ErrorCode::kInvalidArgument, "invalid-field", "command must not contain NUL")
                        .with("field", "command"));
    r.argv = *cmd;
  } else {
    if (script->empty() || script->find('\0') != std::string::npos)
      return fail(Error(ErrorCode::kInvalidArgument, "invalid-field", "script must be non-empty text without NUL")
                      .with("field", "script"));
    r.script = *script;
    if (r.name.empty()) r.name = "script";
  }
  if (r.name.empty()) {
    auto slash = r.argv[0].rfind('/');
    r.name = r.argv[0].substr(slash == std::string::npos ? 0 : slash + 1).substr(0, 128);
  }
  return {};
}

Status parse_env(const http::JsonBody& b, SubmitRequest& r) {
  if (!b.has("env")) return {};
  const auto& e = b.raw()["env"];
  if (!e.is_object() || e.size() > 256)
    return fail(Error(ErrorCode::kInvalidArgument, "invalid-field", "env must be an object of at most 256 strings")
                    .with("field", "env"));
  for (auto& [k, v] : e.items()) {
    bool ok = !k.empty() && k.size() <= 128 && !std::isdigit(static_cast<unsigned char>(k[0]));
    for (char ch : k) ok = ok && (std::isalnum(static_cast<unsigned char>(ch)) || ch == '_');
    if (!ok || !v.is_string() || v.get_ref<const std::string&>().size() > 32 * 1024 ||
        v.get_ref<const std::string&>().find('\0') != std::string::npos)
      return fail(Error(ErrorCode::kInvalidArgument, "invalid-field",
                        "env: '" + k.substr(0, 64) + "' must be a name of [A-Za-z0-9_] with a string value")
                      .with("field", "env"));
    r.env[k] = v.get<std::string>();
  }
  return {};
}

// The code: a branch, tag or commit of the project's repository (default: its default branch),
// resolved to a commit now; the workspace is checked out at exactly that commit.
Status parse_code(Context& ctx, const http::JsonBody& b, Service& svc, const projects::Project& p, SubmitRequest& r) {
  auto ref = TRY(b.opt_str("ref", 255));
  if (ref && ref->empty()) ref.reset();
  // What the job reads and writes besides running: each needs the permission its direct route
  // needs (the same 404/403 answers), not just jobs:create. The checkout reads the code.
  const http::Target target = projects::target_of(p);
  if (ref) TRY_STATUS(ctx.authorize({"code", "read"}, target));  // before resolving: no probing of refs
  if (auto commit = TRY(svc.resolve_commit(p.id, ref))) {
    TRY_STATUS(ctx.authorize({"code", "read"}, target));
    r.commit = CommitPin{ref ? *ref : "", *commit};
  }
  else if (ref)
    return fail(Error(ErrorCode::kInvalidArgument, "invalid-ref",
                      "ref: '" + ref->substr(0, 100) + "' names no branch, tag or commit of the project's repository")
                    .with("field", "ref"));
  return {};
}

}  // namespace

Status parse_datasets(http::Context& ctx, const http::JsonBody& b, const projects::Project& p,
                      std::vector<DatasetMount>& out) {
  const http::Target target = projects::target_of(p);
  if (auto ds = TRY(b.opt_str_list("datasets", 32, 200))) {
    if (!ds->empty()) TRY_STATUS(ctx.authorize({"files", "read"}, target));  // mounted read-only
    std::set<std::string> names;
    for (auto& spec : *ds) {
      auto at = spec.find('@');
      std::string name = spec.substr(0, at);
      auto bad = [&](const std::string& why) {
        return fail(Error(ErrorCode::kInvalidArgument, "invalid-dataset", "datasets: '" + spec.substr(0, 100) + "' " + why)
                        .with("field", "datasets"));
      };
      if (!names.insert(name).second) return bad("is named twice");
      auto d = TRY(data::get_dataset_by_name(ctx.t(), p.id, name));
      if (!d) return bad("is not a dataset of this project");
      std::int64_t n = d->latest;
      if (at != std::string::npos) {
        auto num = std::string_view(spec).substr(at + 1);
        auto [e, ec] = std::from_chars(num.data(), num.data() + num.size(), n);
        if (ec != std::errc() || e != num.data() + num.size() || n < 1 || n > d->latest)
          return bad("names no version of it (it has " + std::to_string(d->latest) + ")");
      }
      if (n < 1) return bad("has no version yet");
      out.push_back({d->name, d->id, n});
    }
  }
  return {};
}

namespace {

// Outputs: {"dataset": name, "paths": [globs]}; the dataset is made if the project has none of
// that name.
Status parse_outputs(Context& ctx, const http::JsonBody& b, const projects::Project& p, SubmitRequest& r) {
  if (!b.has("outputs")) return {};
  const http::Target target = projects::target_of(p);
  const auto& o = b.raw()["outputs"];
  auto bad = [](const std::string& why) {
    return fail(Error(ErrorCode::kInvalidArgument, "invalid-outputs", "outputs: " + why).with("field", "outputs"));
  };
  if (!o.is_object() || !o.contains("dataset") || !o["dataset"].is_string() || !o.contains("paths") ||
      !o["paths"].is_array() || o.size() != 2)
    return bad("must be {\"dataset\": NAME, \"paths\": [GLOB, ...]}");
  std::string name = o["dataset"].get<std::string>();
  if (!is_valid_slug(name)) return bad("dataset must be a dataset name (a-z 0-9 - _ .)");
  // The outputs become a dataset version (and may create the dataset): files:write, as the
  // dataset and version routes ask.
  TRY_STATUS(ctx.authorize({"files", "write"}, target));
  OutputsSpec spec;
  spec.dataset_name = name;
  if (o["paths"].empty() || o["paths"].size() > 32) return bad("paths must hold 1 to 32 globs");
  for (auto& g : o["paths"]) {
    if (!g.is_string()) return bad("paths must be strings");
    auto text = g.get<std::string>();
    if (text.empty() || text.size() > 256 || text[0] == '/' || text.find('\0') != std::string::npos ||
        text == ".." || text.starts_with("../") || text.find("/../") != std::string::npos || text.ends_with("/.."))
      return bad("'" + text.substr(0, 100) + "' must be a relative glob within the workspace");
    spec.globs.push_back(text);
  }
  auto d = TRY(data::get_dataset_by_name(ctx.t(), p.id, name));
  if (!d) {
    data::DatasetRow row;
    row.id = new_id("dst", ctx.now());
    row.project_id = p.id;
    row.org_id = p.org_id;
    row.group_id = p.group_id;
    row.name = name;
    row.description = "outputs of jobs";
    row.created_by = ctx.who().user_id;
    d = TRY(data::create_dataset(ctx.t(), ctx.actor(), row, ctx.now()));
  }
  spec.dataset_id = d->id;
  r.outputs = spec;
  return {};
}

// Secrets by name (["HF_TOKEN", "KEY:file"]): each must exist now (the caller's own, else the
// project's; 422 naming the missing one) and is pinned to where it was found; the values are read
// at launch. A secret variable may not share a name with one of `env`.
Status parse_secrets(Context& ctx, const http::JsonBody& b, const projects::Project& p, SubmitRequest& r) {
  if (!b.has("secrets")) return {};
  auto wanted = TRY(secrets::parse_requests(b.raw()["secrets"]));
  for (auto& w : wanted)
    if (w.as == "env" && r.env.contains(w.name))
      return fail(Error(ErrorCode::kInvalidArgument, "invalid-secrets",
                        "secrets: " + w.name + " is also a variable of env; rename one (or use " + w.name + ":file)")
                      .with("field", "secrets"));
  r.secrets = TRY(secrets::check_requests(ctx, p.id, projects::target_of(p), std::move(wanted)));
  return {};
}

Result<SubmitRequest> parse_submit(Context& ctx, Service& svc, const projects::Project& p) {
  auto b = TRY(ctx.json());
  TRY_STATUS(b.only({"name", "command", "script", "env", "cpus", "mem_mb", "gpus", "time_limit_s", "array",
                     "dependency", "qos", "nice", "begin_time", "hold", "datasets", "outputs", "ref", "notify", "image",
                     "secrets", "partition", "account"}));
  SubmitRequest r;
  r.project_id = p.id;
  r.org_id = p.org_id;
  r.group_id = p.group_id;
  r.name = TRY(b.opt_str("name", 128)).value_or("");
  TRY_STATUS(check_display_text("name", r.name, 128, true));
  TRY_STATUS(parse_command(b, r));
  TRY_STATUS(parse_env(b, r));
  r.resources.cpus = static_cast<int>(TRY(b.opt_integer("cpus", 1, 4096)).value_or(1));
  r.resources.mem_mb = TRY(b.opt_integer("mem_mb", 1, std::int64_t{1} << 32)).value_or(1024);
  r.resources.gpus = static_cast<int>(TRY(b.opt_integer("gpus", 0, 64)).value_or(0));
  r.resources.time_limit = TRY(b.opt_integer("time_limit_s", 1, 365LL * 86400)).value_or(3600) * 1000;
  r.array = TRY(b.opt_str("array", 1024)).value_or("");
  r.dependency = TRY(b.opt_str("dependency", 4096)).value_or("");
  r.qos = TRY(b.opt_str("qos", 64)).value_or("");
  r.nice = static_cast<int>(TRY(b.opt_integer("nice", -10000, 10000)).value_or(0));
  if (r.nice < 0 && !ctx.who().is_instance_admin())
    return fail(Error(ErrorCode::kPermissionDenied, "forbidden", "only an administrator may set a negative nice")
                    .with("field", "nice"));
  if (auto bt = TRY(b.opt_str("begin_time", 64))) {
    Millis t = 0;
    if (!parse_rfc3339(*bt, t))
      return fail(Error(ErrorCode::kInvalidArgument, "invalid-field", "begin_time must be an RFC 3339 time")
                      .with("field", "begin_time"));
    r.begin_time = t;
  }
  r.hold = TRY(b.opt_bool("hold")).value_or(false);
  r.partition = TRY(b.opt_str("partition", 64)).value_or("");
  r.account = TRY(b.opt_str("account", 64)).value_or("");
  r.notify = TRY(b.opt_one_of("notify", {"never", "failure", "end"})).value_or("never");
  TRY_STATUS(parse_code(ctx, b, svc, p, r));
  TRY_STATUS(parse_datasets(ctx, b, p, r.datasets));
  TRY_STATUS(parse_outputs(ctx, b, p, r));
  // The image: pinned to a digest now, so every task, requeue and rerun runs the same software.
  r.image = TRY(svc.resolve_image(ctx.t(), p, TRY(b.opt_str("image", 400))));
  TRY_STATUS(parse_secrets(ctx, b, p, r));
  return r;
}

Result<Response> submit_job(Service& svc, Context& ctx) {
  auto p = TRY(load_project(ctx));
  if (p.archived)
    return fail(ErrorCode::kFailedPrecondition, "project-archived", "the project is archived");
  auto req = TRY(parse_submit(ctx, svc, p));
  auto out = TRY(svc.submit(ctx.t(), ctx.actor(), req, ctx.now()));
  if (out.array_id.empty()) {
    auto j = svc.to_json(out.jobs.front());
    return http::with_etag(Response::json(201, j), j)
        .header("Location", "/api/v1/jobs/" + out.jobs.front().id());
  }
  json ids = json::array();
  for (auto& r : out.jobs) ids.push_back(r.id());
  return Response::json(201, json{{"array_id", out.array_id},
                                  {"array", out.jobs.front().array_spec},
                                  {"tasks", out.jobs.size()},
                                  {"job_ids", ids}})
      .header("Location", "/api/v1/jobs?array=" + out.array_id);
}

Result<Response> list_project_jobs(Service& svc, Context& ctx) {
  auto p = TRY(load_project(ctx));
  auto page = TRY(ctx.page());
  ListFilter f;
  f.project_id = p.id;
  f.states = TRY(states_filter(ctx));
  f.user_id = std::string(ctx.req.query_param("user").value_or(""));
  if (f.user_id == "me") f.user_id = ctx.who().user_id;
  f.array_id = std::string(ctx.req.query_param("array").value_or(""));
  f.after = page.after;
  f.limit = page.limit;
  return list_response(svc, TRY(list(ctx.t(), f)), f.limit);
}

Result<Response> list_my_jobs(Service& svc, Context& ctx) {
  auto page = TRY(ctx.page());
  ListFilter f;
  f.states = TRY(states_filter(ctx));
  f.array_id = std::string(ctx.req.query_param("array").value_or(""));
  f.after = page.after;
  f.limit = page.limit;
  std::string org(ctx.req.query_param("org").value_or(""));
  if (!org.empty()) {
    // Every job of the org needs jobs:read on the org itself.
    TRY_STATUS(ctx.authorize(Target{.org_id = org}));
    f.org_id = org;
  } else {
    ctx.filtered();
    f.user_id = ctx.who().user_id;
  }
  return list_response(svc, TRY(list(ctx.t(), f)), f.limit);
}

Result<Response> show_job(Service& svc, Context& ctx) {
  auto rec = TRY(load(ctx, {"jobs", "read"}));
  auto j = TRY(svc.detail_json(ctx.t(), rec));
  return http::with_etag(Response::json(200, j), j);
}

Result<Response> cancel_my_jobs(Service& svc, Context& ctx) {
  ctx.filtered();
  auto b = TRY(ctx.json());
  TRY_STATUS(b.only({"project_id", "state"}));
  ListFilter f;
  f.user_id = ctx.who().user_id;
  f.project_id = TRY(b.opt_str("project_id", 64)).value_or("");
  auto st = TRY(b.opt_one_of("state", {"PENDING", "RUNNING"}));
  f.states = st ? std::vector<std::string>{*st} : std::vector<std::string>{"PENDING", "RUNNING"};
  f.limit = 100000;
  json ids = json::array();
  for (auto& rec : TRY(list(ctx.t(), f))) {
    if (!ctx.allowed({"jobs", "write"}, TRY(target_for(ctx, rec)))) continue;
    auto out = svc.cancel(ctx.t(), ctx.actor(), rec, ctx.now());
    if (out) ids.push_back(rec.id());
    else if (out.error().code != ErrorCode::kFailedPrecondition) return std::unexpected(out.error());
  }
  return Response::json(200, json{{"cancelled", ids}});
}

Result<Response> job_logs(Service& svc, async::Runtime& rt, Context& ctx) {
  auto rec = TRY(load(ctx, {"jobs", "read"}));
  std::string stream(ctx.req.query_param("stream").value_or("stdout"));
  if (stream != "stdout" && stream != "stderr")
    return fail(Error(ErrorCode::kInvalidArgument, "invalid-query", "stream must be stdout or stderr")
                    .with("field", "stream"));
  auto offset = TRY(query_int(ctx, "offset", 0, 0, std::int64_t{1} << 50));
  auto limit = TRY(query_int(ctx, "limit", 1 << 20, 1, kMaxLogChunk));
  std::string follow(ctx.req.query_param("follow").value_or("false"));
  if (follow != "true" && follow != "false")
    return fail(Error(ErrorCode::kInvalidArgument, "invalid-query", "follow must be true or false")
                    .with("field", "follow"));
  if (follow == "true" || ctx.req.websocket) {
    // Live, chunked or over a WebSocket: from `offset` until the job has ended and all
    // its output is sent.
    Response r = Response::text(200, "", "application/octet-stream");
    r.stream = std::make_shared<LogStream>(rt, svc, rec.id(), svc.run_dir(rec) / stream, offset,
                                           ctx.now() + kFollowMax);
    r.websocket = ctx.req.websocket;
    return r.header("X-Offset", std::to_string(offset));
  }
  std::string data;
  std::int64_t size = 0;
  int fd = ::open((svc.run_dir(rec) / stream).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    size = ::lseek(fd, 0, SEEK_END);
    if (offset < size) {
      data.resize(static_cast<std::size_t>(std::min(limit, size - offset)));
      auto n = ::pread(fd, data.data(), data.size(), offset);
      data.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    }
    ::close(fd);
  }
  std::int64_t next = std::min(offset, size) + static_cast<std::int64_t>(data.size());
  bool done = compute::is_terminal(rec.job.state);
  return Response::text(200, std::move(data), "application/octet-stream")
      .header("X-Offset", std::to_string(std::min(offset, size)))
      .header("X-Next-Offset", std::to_string(next))
      .header("X-Log-Size", std::to_string(size))
      .header("X-Job-State", std::string(compute::state_name(rec.job.state)))
      .header("X-Log-Complete", done && next >= size ? "true" : "false");
}

// One of the state-changing actions on a job (or on every task of an array).
void add_action(http::Api& api, Service& svc, const char* verb, const char* summary,
                Result<JobRecord> (Service::*fn)(db::Tx&, const Actor&, const JobRecord&, Millis)) {
  api.add({"POST", std::string("/api/v1/jobs/{id}/") + verb, Access::require("jobs", "write"),
           {summary, "jobs", nullptr, http::object_schema()},
           [&svc, fn](Context& ctx) -> Result<Response> {
             auto tasks = TRY(array_tasks(ctx.t(), ctx.param("id")));
             if (tasks.empty()) {
               auto rec = TRY(load(ctx, {"jobs", "write"}));
               auto out = TRY((svc.*fn)(ctx.t(), ctx.actor(), rec, ctx.now()));
               return http::with_etag(Response::json(200, svc.to_json(out)), svc.to_json(out));
             }
             // An array id: every task the caller may act on that is not past the action.
             json items = json::array();
             bool any = false;
             for (auto& id : tasks) {
               auto rec = TRY(get(ctx.t(), id));
               if (!rec) continue;
               TRY_STATUS(ctx.authorize({"jobs", "write"}, TRY(target_for(ctx, *rec))));
               any = true;
               auto out = (svc.*fn)(ctx.t(), ctx.actor(), *rec, ctx.now());
               if (out) items.push_back(svc.to_json(*out));
               else if (out.error().code != ErrorCode::kFailedPrecondition)
                 return std::unexpected(out.error());
             }
             if (!any) ctx.filtered();
             return Response::json(200, json{{"array_id", ctx.param("id")}, {"items", items}});
           }});
}

}  // namespace

void add_routes(http::Api& api, Service& svc, async::Runtime& rt) {
  const json kObj = http::object_schema();
  const json submit_schema = {
      {"type", "object"},
      {"properties",
       {{"name", {{"type", "string"}}},
        {"command", {{"type", "array"}, {"items", {{"type", "string"}}}}},
        {"script", {{"type", "string"}}},
        {"env", {{"type", "object"}, {"additionalProperties", {{"type", "string"}}}}},
        {"cpus", {{"type", "integer"}, {"minimum", 1}}},
        {"mem_mb", {{"type", "integer"}, {"minimum", 1}}},
        {"gpus", {{"type", "integer"}, {"minimum", 0}}},
        {"time_limit_s", {{"type", "integer"}, {"minimum", 1}}},
        {"array", {{"type", "string"}, {"description", "sbatch --array syntax: 0-99%10, 1,3,5-7, 0-15:4"}}},
        {"dependency", {{"type", "string"}, {"description", "sbatch --dependency syntax: afterok:ID[:ID],singleton"}}},
        {"qos", {{"type", "string"}}},
        {"nice", {{"type", "integer"}}},
        {"begin_time", {{"type", "string"}, {"format", "date-time"}}},
        {"hold", {{"type", "boolean"}}},
        {"datasets",
         {{"type", "array"},
          {"items", {{"type", "string"}}},
          {"description", "datasets of the project, read-only at /data/<name>: name (its latest version) or name@N"}}},
        {"ref",
         {{"type", "string"},
          {"description", "branch, tag or commit of the project's repository (default: its default branch), pinned to "
                          "a commit at submission; the workspace is checked out there"}}},
        {"image",
         {{"type", "string"},
          {"description", "the image the job runs on (mounted read-only as /): an image name of the project or its "
                          "org, name@sha256:<hex>, or sha256:<hex>; pinned to its digest at submission. Absent: the "
                          "project's default image (the host's root when it has none); \"none\": the host's root"}}},
        {"secrets",
         {{"type", "array"},
          {"items", {{"type", "string"}}},
          {"description", "secrets by name, the caller's own first, else the project's: NAME (an environment "
                          "variable) or NAME:file (/run/secrets/NAME); checked now, read at launch"}}},
        {"partition",
         {{"type", "string"},
          {"description", "where the job runs: \"local\" (this server) or a SLURM partition (GET "
                          "/api/v1/compute/partitions); default: the org's default, else the server's"}}},
        {"account", {{"type", "string"}, {"description", "SLURM account (SLURM partitions only; default: the org's)"}}},
        {"notify",
         {{"type", "string"},
          {"enum", {"never", "failure", "end"}},
          {"description", "mail the submitter when the job ends (end) or ends without success (failure); default never"}}},
        {"outputs",
         {{"type", "object"},
          {"description", "workspace files (globs) recorded as a new version of a dataset when the job ends"},
          {"properties", {{"dataset", {{"type", "string"}}}, {"paths", {{"type", "array"}, {"items", {{"type", "string"}}}}}}}}}}}};

  api.add({"POST", "/api/v1/projects/{id}/jobs", Access::require("jobs", "create"),
           {"Submit a job (or a job array) in a project; stored durably before the answer", "jobs", submit_schema, kObj,
            201, {}, true},
           [&svc](Context& ctx) { return submit_job(svc, ctx); }});

  api.add({"GET", "/api/v1/projects/{id}/jobs", Access::require("jobs", "read"),
           {"List a project's jobs", "jobs", nullptr, http::list_schema(), 200, {"state", "user", "array", "limit", "after"}},
           [&svc](Context& ctx) { return list_project_jobs(svc, ctx); }});

  api.add({"GET", "/api/v1/jobs", Access::require("jobs", "read"),
           {"List my jobs across projects (an org administrator: ?org= lists the org's jobs)", "jobs", nullptr,
            http::list_schema(), 200, {"state", "org", "array", "limit", "after"}},
           [&svc](Context& ctx) { return list_my_jobs(svc, ctx); }});

  api.add({"GET", "/api/v1/jobs/{id}", Access::require("jobs", "read"),
           {"Show a job: state, why it waits and its estimated start, resources, usage, events", "jobs", nullptr, kObj},
           [&svc](Context& ctx) { return show_job(svc, ctx); }});

  add_action(api, svc, "cancel", "Cancel a job or every task of an array (a running job is stopped: SIGTERM, grace, kill)",
             &Service::cancel);
  add_action(api, svc, "hold", "Hold a pending job (or array)", &Service::hold);
  add_action(api, svc, "release", "Release a held job (or array)", &Service::release);
  add_action(api, svc, "requeue", "Requeue a running or finished job (or array)", &Service::requeue);

  api.add({"POST", "/api/v1/jobs/cancel", Access::require("jobs", "write"),
           {"Cancel all my pending and running jobs (optionally only in one project or state)", "jobs",
            json{{"type", "object"},
                 {"properties", {{"project_id", {{"type", "string"}}}, {"state", {{"type", "string"}}}}}},
            kObj},
           [&svc](Context& ctx) { return cancel_my_jobs(svc, ctx); }});

  api.add({"GET", "/api/v1/jobs/{id}/logs", Access::require("jobs", "read"),
           {"A job's output from a byte offset (stream=stdout|stderr); X-Next-Offset says where to resume; follow=true streams it live (chunked) until the job has ended; a WebSocket upgrade streams it live as binary messages (the client's offset is its start offset plus the bytes received) and closes with 1000 once the job has ended", "jobs",
            nullptr, nullptr, 200, {"stream", "offset", "limit", "follow"}},
           [&svc, &rt](Context& ctx) { return job_logs(svc, rt, ctx); }});

  api.add({"GET", "/api/v1/compute", Access::signed_in(),
           {"This node's compute resources, what is allocated, and what the sandbox enforces here", "jobs", nullptr,
            kObj},
           [&svc](Context&) -> Result<Response> { return Response::json(200, svc.node_json()); }});

  add_event_routes(api, svc, rt);
  add_compute_routes(api, svc);  // partitions, an org's default partition (routes_compute.cpp)
  add_usage_routes(api);  // GET /api/v1/me/usage (routes_usage.cpp)
  add_org_usage_routes(api, svc);  // GET /api/v1/orgs/{org}/usage, /fairshare (routes_org_usage.cpp)
  add_admin_routes(api, svc);  // GET /api/v1/admin/compute/queue (routes_admin.cpp)
}

}  // namespace atrium::jobs
