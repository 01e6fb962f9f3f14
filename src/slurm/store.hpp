// The slurm module's table: one row per Atrium job handed (or to be handed) to a SLURM cluster,
// the durable hand-over queue, the tracker's anchor after a restart and the exec tokens' hashes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "db/database.hpp"

namespace atrium::slurm {

std::vector<db::Migration> migrations();

// queued: committed, not yet given to SLURM; submitting: a submit may have reached SLURM (look it
// up by its comment before submitting again); submitted: SLURM's id known; ended: nothing more to do.
inline constexpr const char* kQueued = "queued";
inline constexpr const char* kSubmitting = "submitting";
inline constexpr const char* kSubmitted = "submitted";
inline constexpr const char* kEnded = "ended";

struct JobRow {
  std::string job_id;      // Atrium's job (each task of an array has its own row)
  std::string submit_key;  // what one SLURM submission carries: the job id, or the array id for its tasks
  std::string cluster, partition, account;
  std::string state = kQueued;
  std::optional<std::int64_t> slurm_job_id;   // the SLURM job (an array's job id for its tasks)
  std::optional<std::int64_t> array_task_id;  // the task index within the SLURM array
  std::optional<std::int64_t> task_job_id;    // an array task's own SLURM id once SLURM split it off
  std::int64_t generation = 0;  // hand-overs so far after requeues (the comment carries it)
  std::int64_t attempts = 0;
  Millis next_try_ms = 0;
  std::string exec_token_hash;  // hex SHA-256 of the job's exec token ("" = none yet)
  std::optional<Millis> submitted_ms, last_seen_ms, unknown_since_ms;
  std::string control;          // "", cancel, hold, release, requeue: the latest one asked for
  bool control_sent = true;
  std::optional<std::int64_t> old_slurm_job_id;  // a requeued job's previous SLURM job, to cancel
  std::string slurm_state, reason, nodes;  // what the tracker saw last
  Millis created_ms = 0;

  bool active() const { return state != kEnded; }
  // "atrium:<key>" (first hand-over) or "atrium:<key>#<n>" after n requeues: the idempotency key.
  std::string comment() const;
};

namespace store {

Status insert(db::Tx& tx, const JobRow& r);
Status save(db::Tx& tx, const JobRow& r);  // every mutable column, by job_id
Result<std::optional<JobRow>> get(db::Tx& tx, const std::string& job_id);
Result<std::vector<JobRow>> by_key(db::Tx& tx, const std::string& submit_key);
// Rows that are not ended (all clusters).
Result<std::vector<JobRow>> active(db::Tx& tx);
// Every row, for the live fields (newest `limit`).
Result<std::vector<JobRow>> recent(db::Tx& tx, int limit);
// Sets (or clears, nullopt) unknown_since on the active rows of `cluster`.
Status set_unknown_since(db::Tx& tx, const std::string& cluster, std::optional<Millis> since);

}  // namespace store
}  // namespace atrium::slurm
