// One submission: the runs prepared by jobs (as for a local start), an exec token per job in its
// run directory, the batch script, then slurmrestd's submit. See handover.cpp for the order.
#include <map>
#include <set>

#include <spdlog/spdlog.h>

#include "core/crypto.hpp"
#include "core/dir.hpp"
#include "slurm/cluster.hpp"
#include "slurm/translate.hpp"

namespace atrium::slurm {

namespace {

// A fresh exec token in the run directory (0600, root), written through a directory fd.
Result<std::string> write_token(const std::string& server_run_dir) {
  std::string token = crypto::base64url(crypto::random_bytes(32));
  auto dir = TRY(Dir::open(server_run_dir));
  TRY_STATUS(dir.write_file("exec.token", token, 0600));
  return crypto::sha256_hex(token);
}

}  // namespace

Status Cluster::submit_group(std::vector<JobRow>& rows) {
  // The jobs as stored: one that ended meanwhile (cancelled) is never handed over.
  std::vector<JobRow> live;
  std::vector<jobs::JobRecord> recs;
  for (auto& r : rows) {
    auto rec = TRY(svc_.jobs_.get(r.job_id));
    if (rec && !compute::is_terminal(rec->job.state) && r.control != "cancel") {
      live.push_back(r);
      recs.push_back(*rec);
      continue;
    }
    TRY_STATUS(svc_.mutate(r.job_id, [](JobRow& x) -> Status {
      x.state = kEnded;
      return {};
    }));
  }
  if (live.empty()) return {};
  bool wait = false;
  auto dep = dependency_of(recs.front(), wait);
  if (!dep) return end_rows(live, compute::JobState::kCancelled, dep.error().detail);
  if (wait) return {};

  const std::string node = node_data_dir(), here = svc_.settings_.data_dir;
  std::vector<ScriptTask> tasks;
  std::vector<JobRow> ready;
  std::vector<std::string> hashes;
  std::set<std::uint32_t> indexes;
  for (std::size_t i = 0; i < live.size(); ++i) {
    auto run = svc_.jobs_.prepare(live[i].job_id, node);
    auto hash = run ? write_token(rebase_path(run->run_dir.string(), node, here)) : Result<std::string>(std::unexpected(run.error()));
    if (!hash) {
      TRY_STATUS(end_rows({live[i]}, compute::JobState::kFailed, "the run could not be prepared: " + hash.error().detail));
      continue;
    }
    ScriptTask t{.job_id = live[i].job_id,
                 .run_dir = rebase_path(run->run_dir.string(), here, node),
                 .wants_secrets = run->wants_secrets,
                 .tunnel_socket = run->tunnel_socket.empty() ? "" : rebase_path(run->tunnel_socket.string(), here, node)};
    for (auto& a : run->exec_args) t.exec_args.push_back(rebase_path(a, here, node));
    if (live[i].array_task_id) {
      t.index = static_cast<std::uint32_t>(*live[i].array_task_id);
      indexes.insert(*t.index);
    }
    tasks.push_back(std::move(t));
    ready.push_back(live[i]);
    hashes.push_back(*hash);
  }
  if (ready.empty()) return {};
  // Durable before the submit: after a crash or a lost answer, the comment is looked up first.
  std::vector<std::string> ids;
  for (auto& r : ready) ids.push_back(r.job_id);
  std::map<std::string, std::string> hash_of;
  for (std::size_t i = 0; i < ready.size(); ++i) hash_of[ready[i].job_id] = hashes[i];
  TRY_STATUS(svc_.mutate_all(ids, [&](JobRow& x) -> Status {
    x.state = kSubmitting;
    x.attempts += 1;
    x.exec_token_hash = hash_of.at(x.job_id);
    return {};
  }));

  const auto& rec = recs.front();
  auto pc = svc_.settings_.config.partitions.find(ready.front().partition);
  if (pc == svc_.settings_.config.partitions.end())
    return end_rows(ready, compute::JobState::kFailed,
                    "partition " + ready.front().partition + " is no longer configured on this server");
  const auto& part = pc->second;
  // Every job is submit_user's in SLURM, whose `singleton` compares names per user: the Atrium user
  // goes into the name, so one tenant's job names never hold back another's (as locally).
  JobSubmission sub{.name = rec.job.assoc.user + "/" + (rec.job.name.empty() ? "atrium-" + rec.id() : rec.job.name),
                    .comment = ready.front().comment(),
                    .partition = part.slurm_partition,
                    .account = ready.front().account,
                    .script = batch_script(cfg_.atrium_path, server_url(), tasks),
                    .cwd = "/",
                    .std_out = "/dev/null",
                    .std_err = "/dev/null",
                    .environment = {{"PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}},
                    .cpus = rec.job.request.cpus,
                    .mem_mb = rec.job.request.mem_mb,
                    .gpus = rec.job.request.gpus,
                    .time_limit_min = time_limit_minutes(rec.job.request.time_limit, svc_.settings_.kill_grace,
                                                        limits(part.slurm_partition).max_time / 60'000),
                    .dependency = dep->value_or(""),
                    .hold = ready.front().control == "hold"};
  if (ready.front().array_task_id && rec.job.array) sub.array = array_spec(indexes, rec.job.array->max_concurrent);
  auto res = call("submit", [&] { return rest_.submit(sub); });
  if (!res) {
    if (!refused(res.error())) return std::unexpected(res.error());  // still `submitting`: looked up first next time
    return end_rows(ready, compute::JobState::kFailed, "SLURM refused the job: " + res.error().detail);
  }
  Millis now = svc_.clock_.now_ms();
  TRY_STATUS(svc_.mutate_all(ids, [&](JobRow& x) -> Status {
    x.state = kSubmitted;
    x.slurm_job_id = res->job_id;
    x.submitted_ms = now;
    return {};
  }));
  spdlog::debug("slurm cluster {}: {} is SLURM job {}", name_, sub.comment, res->job_id);
  kick_tracker();
  kick_handover();  // what waited for this job (a dependency) goes next
  return {};
}

}  // namespace atrium::slurm
