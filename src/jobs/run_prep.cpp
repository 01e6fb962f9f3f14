#include "jobs/run_prep.hpp"

#include "core/dir.hpp"

namespace atrium::jobs {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// The sandbox of a run: limits from the allocation, the script or argv, the datasets, and the
// environment batch scripts expect (SLURM's variables too, so they port unchanged).
Result<sandbox::Spec> make_spec(const Settings& settings, const StartRequest& req, Dir& in) {
  const JobRecord& r = req.rec;
  const compute::Allocation& alloc = req.alloc;
  fs::path dir = run_dir_of(settings.data_dir, r);
  sandbox::Spec spec;
  spec.id = r.id();
  spec.workspace = (dir.parent_path() / "workspace").string();
  spec.uid = static_cast<std::uint32_t>(r.uid);
  spec.gid = static_cast<std::uint32_t>(r.uid);
  spec.gpus = alloc.gpus;
  spec.hostname = "job";
  spec.rootfs = req.rootfs;
  spec.cgroup_parent = settings.cgroup_parent;
  spec.stdout_path = (dir / "stdout").string();
  spec.stderr_path = (dir / "stderr").string();
  spec.limits.memory_bytes = alloc.mem_mb << 20;
  spec.limits.cpus = alloc.cpus;
  spec.limits.pids = settings.max_pids;
  spec.limits.wall_ms = r.job.request.time_limit;
  spec.limits.kill_grace_ms = settings.kill_grace;
  spec.limits.output_bytes = settings.max_output_bytes;
  if (!r.script.empty()) {
    std::string text = r.script.rfind("#!", 0) == 0 ? r.script : "#!/bin/sh\n" + r.script;
    TRY_STATUS(in.write_file("job.sh", text, 0755));
    spec.mounts.push_back({(dir / "in").string(), "/atrium", false});
    spec.argv = {"/atrium/job.sh"};
  } else {
    spec.argv = r.argv;
  }
  // Dataset versions, read-only at /data/<name>.
  for (auto& m : req.datasets) {
    if (!settings.dataset_dir) return internal("this server cannot mount datasets");
    auto src = settings.dataset_dir(m.dataset_id, m.number, r.uid);
    if (!src) return internal("dataset " + m.name + " version " + std::to_string(m.number) + ": " + src.error().detail);
    spec.mounts.push_back({*src, "/data/" + m.name, false});
  }
  spec.env = r.env;
  spec.env["ATRIUM_JOB_ID"] = r.id();
  spec.env["ATRIUM_PROJECT_ID"] = r.project_id;
  if (req.commit) {
    spec.env["ATRIUM_COMMIT"] = req.commit->commit;
    spec.env["ATRIUM_REF"] = req.commit->ref;
  }
  spec.env["ATRIUM_CPUS"] = std::to_string(alloc.cpus);
  spec.env["SLURM_JOB_ID"] = r.id();
  spec.env["SLURM_CPUS_PER_TASK"] = std::to_string(alloc.cpus);
  spec.env["OMP_NUM_THREADS"] = std::to_string(alloc.cpus);
  if (r.job.array) {
    spec.env["ATRIUM_ARRAY_ID"] = r.job.array->array_id;
    spec.env["ATRIUM_ARRAY_TASK_ID"] = std::to_string(r.job.array->index);
    spec.env["SLURM_ARRAY_JOB_ID"] = r.job.array->array_id;
    spec.env["SLURM_ARRAY_TASK_ID"] = std::to_string(r.job.array->index);
  }
  return spec;
}

}  // namespace

std::string rebase_path(const std::string& p, const fs::path& from, const fs::path& to) {
  if (to.empty() || p.empty() || to == from) return p;
  std::string prefix = from.string();
  while (prefix.size() > 1 && prefix.back() == '/') prefix.pop_back();
  if (p == prefix) return to.string();
  if (!p.starts_with(prefix + "/")) return p;
  return (to / p.substr(prefix.size() + 1)).string();
}

Result<PreparedRun> prepare_run(const Settings& settings, const StartRequest& req, const fs::path& node_data_dir) {
  const JobRecord& r = req.rec;
  fs::path dir = run_dir_of(settings.data_dir, r);
  // <data>/jobs/<id>/ and its run directories are root's (0711). The workspace beside them
  // belongs to the job's uid, which may have left anything in it in an earlier run (a requeue):
  // every step goes through directory fds (core/dir.hpp) and never follows a link, and the
  // workspace is made anew, root-only while the code is written into it.
  auto jobs_root = Dir::open_or_create(settings.data_dir / "jobs", 0711);
  if (!jobs_root) return internal("cannot open the jobs directory: " + jobs_root.error().detail);
  auto job_dir = jobs_root->make_dirs(r.id(), 0711);
  if (!job_dir) return internal("cannot create the job's directory: " + job_dir.error().detail);
  auto run = job_dir->make_fresh(dir.filename().string(), 0711);
  if (!run) return internal("cannot create the run directory: " + run.error().detail);
  auto in = run->make_dirs("in", 0755);
  if (!in) return internal("cannot create the run directory: " + in.error().detail);
  auto wsd = job_dir->make_fresh("workspace", 0700);
  if (!wsd) return internal("cannot make the workspace anew: " + wsd.error().detail);
  // The workspace holds the project's code at the commit pinned at submission.
  if (req.commit) {
    if (!settings.checkout) return internal("this server cannot check out code");
    if (auto st = settings.checkout(r.project_id, req.commit->commit, dir.parent_path() / "workspace", r.uid); !st)
      return internal("checking out " + req.commit->commit + ": " + st.error().detail);
  }
  const Owner tenant{static_cast<std::uint32_t>(r.uid), static_cast<std::uint32_t>(r.uid)};
  if (auto st = wsd->chown(tenant); !st) return internal("cannot hand the workspace to uid " + std::to_string(r.uid));
  TRY_STATUS(wsd->chmod(0700));

  auto spec = TRY(make_spec(settings, req, *in));
  if (settings.prepare)
    if (auto st = settings.prepare(r, spec); !st) return internal("preparing the sandbox: " + st.error().detail);
  // The nodes of a remote partition see the shared data directory elsewhere.
  auto node = [&](std::string& p) { p = rebase_path(p, settings.data_dir, node_data_dir); };
  node(spec.workspace);
  node(spec.rootfs);
  node(spec.stdout_path);
  node(spec.stderr_path);
  for (auto& m : spec.mounts) node(m.source);
  // spec.json never holds a secret: they go to the supervisor through its stdin (secret_payload).
  TRY_STATUS(run->write_file("spec.json", sandbox::to_json(spec).dump(), 0600));
  return PreparedRun{dir, std::move(spec)};
}

// {"env": {...}, "files": {...}} for `atrium exec --secrets -` ("" when the job asked for none).
// A secret variable never replaces one the job already has (its env, Atrium's, the environment's).
Result<std::string> secret_payload(const std::vector<secrets::Value>& values, const std::map<std::string, std::string>& spec_env) {
  if (values.empty()) return std::string();
  json env = json::object(), files = json::object();
  std::size_t env_bytes = 0;
  for (const auto& v : values) {
    const std::string& name = v.request.name;
    if (v.request.as == "file") {
      files[name] = v.value;
      continue;
    }
    if (spec_env.contains(name))
      return fail(Error(ErrorCode::kFailedPrecondition, "secret-refused",
                        "the secret " + name + " would replace the job's variable of that name; rename one"));
    env_bytes += name.size() + v.value.size() + 2;
    env[name] = v.value;
  }
  if (env_bytes > secrets::kMaxEnvBytes)
    return fail(Error(ErrorCode::kFailedPrecondition, "secret-refused",
                      "the job's secret variables together pass " + std::to_string(secrets::kMaxEnvBytes >> 10) +
                          " KiB; ask for the large ones as files (NAME:file)"));
  return json{{"env", env}, {"files", files}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace atrium::jobs
