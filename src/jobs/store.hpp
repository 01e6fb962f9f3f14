// Jobs in the database: the source of truth the in-memory scheduler state is loaded from and
// kept in step with. Every state change is a row in job_events (time, from, to, event, cause).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "compute/job.hpp"
#include "compute/usage.hpp"
#include "db/database.hpp"
#include "secrets/secrets.hpp"

namespace atrium::jobs {

std::vector<db::Migration> migrations();

// The image a job runs on (its root filesystem, mounted read-only as /), pinned at submission:
// the digest is what runs and what provenance records; the name is what it was chosen by ("" when
// by digest). A job without one runs on the host's /usr and /etc.
struct ImageRef {
  std::string name, digest;
  bool operator==(const ImageRef&) const = default;
};

// A job as stored: the scheduler's view plus what the executor and the API need.
struct JobRecord {
  compute::Job job;  // job.assoc = {org_id, group_id, user_id}
  std::string project_id;
  std::string array_spec;            // the array's spec text (array tasks only)
  std::vector<std::string> argv;     // what runs: argv, or ["/atrium/job.sh"] for a script
  std::string script;                // "" = argv given
  std::map<std::string, std::string> env;
  std::int64_t uid = 0;              // host uid it runs as
  std::optional<double> cpu_seconds;  // measured, after it ran
  std::optional<std::int64_t> peak_mem_mb;
  nlohmann::json enforced = nullptr;  // what the sandbox enforced, and how
  std::string stop_requested;         // "", "cancel" or "requeue": a stop is on its way to the process
  std::int64_t version = 1;
  std::optional<ImageRef> image;      // nullopt: the host root
  std::string partition = "local";    // "local": this server's scheduler; else a remote one (remote.hpp)

  const std::string& id() const { return job.id; }
  const std::string& org_id() const { return job.assoc.org; }
  const std::string& user_id() const { return job.assoc.user; }
};

// A dataset version a job reads, mounted read-only at /data/<name>; pinned at submission.
struct DatasetMount {
  std::string name, dataset_id;
  std::int64_t number = 0;
};

// Files of the workspace a job's end turns into a new version of a dataset (its artifacts).
struct OutputsSpec {
  std::string dataset_id, dataset_name;
  std::vector<std::string> globs;  // relative to the workspace; * ? [..] within one path component
  std::optional<std::int64_t> version;  // the version the job's end made (nullopt: not yet)
};

// The queue's figures for the server's health gauges (alerts watch them): jobs pending; running
// past their time limit plus `grace_ms` (the end did not come: a lost process or node); pending
// (not held, not waiting on a dependency or a begin time) longer than pending_factor x the mean wait
// of the last day's jobs, and at least pending_floor_ms.
struct QueueFigureSettings {
  Millis grace_ms = 10 * 60 * 1000;
  Millis pending_floor_ms = 60 * 60 * 1000;
  Millis pending_factor = 10;
};
struct QueueFigures {
  std::int64_t pending = 0, stuck_running = 0, stuck_pending = 0;
};
Result<QueueFigures> queue_figures(db::Tx& tx, Millis now, const QueueFigureSettings& s = {});

Status insert(db::Tx& tx, const JobRecord& r);
// A job whose lifecycle another module drives (an environment's: "environment"): set right after
// its submission, in the same transaction. Such a job is not held, released or requeued through
// the jobs API (the module would lose track of it); it may still be cancelled. "" = a plain job.
Status set_managed_by(db::Tx& tx, const std::string& job_id, const std::string& manager);
Result<std::string> managed_by(db::Tx& tx, const std::string& job_id);
// The commit a job's workspace is checked out at, and the ref it was resolved from.
struct CommitPin {
  std::string ref, commit;
};
Status insert_commit(db::Tx& tx, const std::string& job_id, const CommitPin& c);
Result<std::optional<CommitPin>> job_commit(db::Tx& tx, const std::string& job_id);
Status insert_outputs(db::Tx& tx, const std::string& job_id, const OutputsSpec& o);
// When the job's end is mailed ("failure" | "end"; no row or "" = never): mail's notifications.
Status insert_notify(db::Tx& tx, const std::string& job_id, const std::string& notify);
Result<std::string> job_notify(db::Tx& tx, const std::string& job_id);
// The secrets a job asked for (names, where they go, the scope pinned at submission): never a value.
Status insert_secrets(db::Tx& tx, const std::string& job_id, const std::vector<secrets::Request>& rs);
Result<std::vector<secrets::Request>> job_secrets(db::Tx& tx, const std::string& job_id);
Result<std::optional<OutputsSpec>> job_outputs(db::Tx& tx, const std::string& job_id);
Status set_outputs_version(db::Tx& tx, const std::string& job_id, std::int64_t number);
Status insert_datasets(db::Tx& tx, const std::string& job_id, const std::vector<DatasetMount>& ds);
Result<std::vector<DatasetMount>> job_datasets(db::Tx& tx, const std::string& job_id);
// Writes the job's lifecycle fields and the transition as an event.
Status record_transition(db::Tx& tx, const compute::Job& after, const compute::Transition& t);
Status set_measurements(db::Tx& tx, const std::string& id, const compute::JobUsage& usage,
                        const nlohmann::json& enforced);
Status set_stop_requested(db::Tx& tx, const std::string& id, const std::string& what);

Result<std::optional<JobRecord>> get(db::Tx& tx, const std::string& id);
// Every PENDING and RUNNING job, and the finished jobs they depend on.
Result<std::vector<JobRecord>> load_active(db::Tx& tx);
// Finished jobs that ended at or after `since` (fair-share history and the quota ledger).
Result<std::vector<JobRecord>> load_finished_since(db::Tx& tx, Millis since);

struct ListFilter {
  std::string project_id;  // "" = any
  std::string user_id;     // "" = any
  std::string org_id;      // "" = any
  std::string array_id;    // "" = any
  std::vector<std::string> states;  // empty = any
  std::string after;       // id cursor
  int limit = 50;
};
Result<std::vector<JobRecord>> list(db::Tx& tx, const ListFilter& f);
// Every write to a job (submit, transition, stop request, outputs) gives it the next change
// sequence number: GET /api/v1/jobs/events resumes from one (Last-Event-ID).
struct ChangeFilter {
  std::int64_t after = 0;
  std::string project_id;  // "" = any
  std::string user_id;     // "" = any
  int limit = 100;
};
struct Changed {
  std::int64_t seq = 0;
  JobRecord rec;
};
// Jobs whose last change is after f.after, oldest change first.
Result<std::vector<Changed>> changed_since(db::Tx& tx, const ChangeFilter& f);
Result<std::int64_t> last_change(db::Tx& tx);

// Ids of the jobs of an array (the array id names them all).
Result<std::vector<std::string>> array_tasks(db::Tx& tx, const std::string& array_id);
// Ids of job `id`, or of the tasks of array `id`.
Result<std::vector<std::string>> job_or_tasks(db::Tx& tx, const std::string& id);
// The partition of a job or an array (nullopt: no such job).
Result<std::optional<std::string>> partition_of(db::Tx& tx, const std::string& id);
// The organisation of a job or an array (nullopt: no such job).
Result<std::optional<std::string>> org_of(db::Tx& tx, const std::string& id);
// Whether a PENDING or RUNNING job runs on this image digest (images' garbage collection keeps it).
Result<bool> image_in_use(db::Tx& tx, const std::string& digest);
// Whether a RUNNING job of host uid `uid` (or a PENDING remote one: its copy is made at the
// hand-over) mounts this dataset version.
Result<bool> running_job_mounts(db::Tx& tx, const std::string& dataset_id, std::int64_t number, std::int64_t uid);
Result<nlohmann::json> events(db::Tx& tx, const std::string& id);

// An org's compute settings (GET/PUT /api/v1/orgs/{org}/compute): version 0 = none stored yet
// (its default partition is then compute.default_partition).
struct OrgCompute {
  std::string default_partition;  // "" = none set
  std::int64_t version = 0;
};
Result<OrgCompute> org_compute(db::Tx& tx, const std::string& org_id);
// Stores the org's default partition if its version is still `expected_version` (0: none yet);
// false when it changed meanwhile.
Result<bool> set_org_compute(db::Tx& tx, const std::string& org_id, const std::string& partition,
                             std::int64_t expected_version);

// The host uid Atrium user `user_id` runs jobs as (allocated on first use: uid_base + n).
Result<std::int64_t> uid_for(db::Tx& tx, const std::string& user_id, std::int64_t uid_base);

}  // namespace atrium::jobs
