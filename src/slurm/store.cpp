#include "slurm/store.hpp"

#include "db/columns.hpp"

namespace atrium::slurm {

std::vector<db::Migration> migrations() {
  return {{1, "slurm_jobs",
           R"SQL(
CREATE TABLE slurm_jobs (
  job_id TEXT PRIMARY KEY,
  submit_key TEXT NOT NULL,
  cluster TEXT NOT NULL,
  partition TEXT NOT NULL,
  account TEXT NOT NULL,
  state TEXT NOT NULL,
  slurm_job_id INTEGER,
  array_task_id INTEGER,
  task_job_id INTEGER,
  generation INTEGER NOT NULL DEFAULT 0,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_try_ms INTEGER NOT NULL DEFAULT 0,
  exec_token_hash TEXT NOT NULL DEFAULT '',
  submitted_ms INTEGER,
  last_seen_ms INTEGER,
  unknown_since_ms INTEGER,
  control TEXT NOT NULL DEFAULT '',
  control_sent INTEGER NOT NULL DEFAULT 1,
  old_slurm_job_id INTEGER,
  slurm_state TEXT NOT NULL DEFAULT '',
  reason TEXT NOT NULL DEFAULT '',
  nodes TEXT NOT NULL DEFAULT '',
  created_ms INTEGER NOT NULL);
CREATE INDEX slurm_jobs_active ON slurm_jobs (state, cluster);
CREATE INDEX slurm_jobs_key ON slurm_jobs (submit_key);
CREATE INDEX slurm_jobs_slurm_id ON slurm_jobs (cluster, slurm_job_id);
CREATE INDEX slurm_jobs_created ON slurm_jobs (created_ms);
)SQL"}};
}

std::string JobRow::comment() const {
  return "atrium:" + submit_key + (generation > 0 ? "#" + std::to_string(generation) : "");
}

namespace store {
namespace {

const db::Columns<JobRow> kRow{
    db::col<&JobRow::job_id>("job_id"),
    db::col<&JobRow::submit_key>("submit_key"),
    db::col<&JobRow::cluster>("cluster"),
    db::col<&JobRow::partition>("partition"),
    db::col<&JobRow::account>("account"),
    db::col<&JobRow::state>("state"),
    db::col<&JobRow::slurm_job_id>("slurm_job_id"),
    db::col<&JobRow::array_task_id>("array_task_id"),
    db::col<&JobRow::task_job_id>("task_job_id"),
    db::col<&JobRow::generation>("generation"),
    db::col<&JobRow::attempts>("attempts"),
    db::col<&JobRow::next_try_ms>("next_try_ms"),
    db::col<&JobRow::exec_token_hash>("exec_token_hash"),
    db::col<&JobRow::submitted_ms>("submitted_ms"),
    db::col<&JobRow::last_seen_ms>("last_seen_ms"),
    db::col<&JobRow::unknown_since_ms>("unknown_since_ms"),
    db::col<&JobRow::control>("control"),
    db::col<&JobRow::control_sent>("control_sent"),
    db::col<&JobRow::old_slurm_job_id>("old_slurm_job_id"),
    db::col<&JobRow::slurm_state>("slurm_state"),
    db::col<&JobRow::reason>("reason"),
    db::col<&JobRow::nodes>("nodes"),
    db::col<&JobRow::created_ms>("created_ms"),
};

db::Params params_of(const JobRow& j) {
  return {j.submit_key,       j.cluster,           j.partition,      j.account,
          j.state,            db::opt(j.slurm_job_id), db::opt(j.array_task_id), db::opt(j.task_job_id),
          j.generation,       j.attempts,          j.next_try_ms,    j.exec_token_hash,
          db::opt(j.submitted_ms), db::opt(j.last_seen_ms), db::opt(j.unknown_since_ms), j.control,
          std::int64_t{j.control_sent ? 1 : 0}, db::opt(j.old_slurm_job_id), j.slurm_state, j.reason,
          j.nodes,            j.created_ms,        j.job_id};
}

Result<std::vector<JobRow>> rows(db::Tx& tx, const std::string& where, const db::Params& p) {
  return kRow.read_all(TRY(tx.query("SELECT " + kRow.list() + " FROM slurm_jobs " + where, p)));
}

}  // namespace

Status insert(db::Tx& tx, const JobRow& r) {
  TRY(tx.exec("INSERT INTO slurm_jobs (submit_key, cluster, partition, account, state, slurm_job_id, array_task_id, "
              "task_job_id, generation, attempts, next_try_ms, exec_token_hash, submitted_ms, last_seen_ms, "
              "unknown_since_ms, control, control_sent, old_slurm_job_id, slurm_state, reason, nodes, created_ms, "
              "job_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
              params_of(r)));
  return {};
}

Status save(db::Tx& tx, const JobRow& r) {
  TRY(tx.exec("UPDATE slurm_jobs SET submit_key = ?, cluster = ?, partition = ?, account = ?, state = ?, "
              "slurm_job_id = ?, array_task_id = ?, task_job_id = ?, generation = ?, attempts = ?, next_try_ms = ?, "
              "exec_token_hash = ?, submitted_ms = ?, last_seen_ms = ?, unknown_since_ms = ?, control = ?, "
              "control_sent = ?, old_slurm_job_id = ?, slurm_state = ?, reason = ?, nodes = ?, created_ms = ? "
              "WHERE job_id = ?",
              params_of(r)));
  return {};
}

Result<std::optional<JobRow>> get(db::Tx& tx, const std::string& job_id) {
  auto r = TRY(rows(tx, "WHERE job_id = ?", {job_id}));
  if (r.empty()) return std::optional<JobRow>{};
  return std::optional<JobRow>{std::move(r.front())};
}

Result<std::vector<JobRow>> by_key(db::Tx& tx, const std::string& submit_key) {
  return rows(tx, "WHERE submit_key = ? ORDER BY array_task_id, job_id", {submit_key});
}

Result<std::vector<JobRow>> active(db::Tx& tx) {
  return rows(tx, "WHERE state IN ('queued', 'submitting', 'submitted') ORDER BY created_ms, job_id", {});
}

Result<std::vector<JobRow>> recent(db::Tx& tx, int limit) {
  return rows(tx, "ORDER BY created_ms DESC LIMIT ?", {static_cast<std::int64_t>(limit)});
}

Status set_unknown_since(db::Tx& tx, const std::string& cluster, std::optional<Millis> since) {
  TRY(tx.exec("UPDATE slurm_jobs SET unknown_since_ms = ? WHERE cluster = ? AND state IN ('queued', "
              "'submitting', 'submitted')",
              {db::opt(since), cluster}));
  return {};
}

}  // namespace store
}  // namespace atrium::slurm
