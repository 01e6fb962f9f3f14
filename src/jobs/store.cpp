#include "jobs/store.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "db/columns.hpp"

namespace atrium::jobs {
namespace {

using compute::Job;
using compute::JobState;

using compute::Association;
using compute::ResourceRequest;

db::Value opt_ms(const std::optional<Millis>& v) { return v ? db::Value(*v) : db::Value(nullptr); }

template <typename T>
Status json_of(T& out, const db::Row& r, std::size_t i) {
  out = nlohmann::json::parse(r.str(i)).get<T>();
  return {};
}

const db::Columns<JobRecord> kJob{
    db::col<&JobRecord::job, &Job::id>("id"),
    db::col<&JobRecord::job, &Job::assoc, &Association::org>("org_id"),
    db::col<&JobRecord::project_id>("project_id"),
    db::col<&JobRecord::job, &Job::assoc, &Association::group>("group_id"),
    db::col<&JobRecord::job, &Job::assoc, &Association::user>("user_id"),
    db::col<&JobRecord::job, &Job::name>("name"),
    db::col<&JobRecord::job, &Job::qos>("qos"),
    db::col<&JobRecord::job, &Job::nice>("nice"),
    db::col<JobRecord>("argv", [](JobRecord& rec, const db::Row& r, std::size_t i) { return json_of(rec.argv, r, i); }),
    db::col<&JobRecord::script>("script"),
    db::col<JobRecord>("env", [](JobRecord& rec, const db::Row& r, std::size_t i) { return json_of(rec.env, r, i); }),
    db::col<&JobRecord::uid>("uid"),
    db::col<&JobRecord::job, &Job::request, &ResourceRequest::cpus>("cpus"),
    db::col<&JobRecord::job, &Job::request, &ResourceRequest::mem_mb>("mem_mb"),
    db::col<&JobRecord::job, &Job::request, &ResourceRequest::gpus>("gpus"),
    db::col<&JobRecord::job, &Job::request, &ResourceRequest::time_limit>("time_limit_ms"),
    db::col<&JobRecord::job, &Job::begin_time>("begin_ms"),
    db::col<JobRecord>("dependency",
                       [](JobRecord& rec, const db::Row& r, std::size_t i) -> Status {
                         auto dep = r.str(i);
                         if (!dep.empty()) rec.job.dependency = TRY(compute::parse_dependency(dep));
                         return {};
                       }),
    db::cols<JobRecord>(3, "array_id, array_index, array_max",
                        [](JobRecord& rec, const db::Row& r, std::size_t i) -> Status {
                          if (!r.is_null(i))
                            rec.job.array = compute::ArrayTask{r.str(i), static_cast<std::uint32_t>(r.i64(i + 1)),
                                                               static_cast<std::uint32_t>(r.i64(i + 2))};
                          return {};
                        }),
    db::col<&JobRecord::array_spec>("array_spec"),
    db::col<JobRecord>("state",
                       [](JobRecord& rec, const db::Row& r, std::size_t i) -> Status {
                         rec.job.state = TRY(compute::parse_state(r.str(i)));
                         return {};
                       }),
    db::col<&JobRecord::job, &Job::held>("held"),
    db::col<JobRecord>("reason",
                       [](JobRecord& rec, const db::Row& r, std::size_t i) -> Status {
                         auto reason = r.str(i);
                         rec.job.reason = reason.empty() ? compute::PendingReason::kNone : TRY(compute::parse_reason(reason));
                         return {};
                       }),
    db::col<&JobRecord::job, &Job::reason_detail>("reason_detail"),
    db::col<&JobRecord::job, &Job::submit_time>("submit_ms"),
    db::col<&JobRecord::job, &Job::start_time>("start_ms"),
    db::col<&JobRecord::job, &Job::end_time>("end_ms"),
    db::col<&JobRecord::job, &Job::exit_code>("exit_code"),
    db::cols<JobRecord>(3, "alloc_cpus, alloc_mem_mb, alloc_gpus",
                        [](JobRecord& rec, const db::Row& r, std::size_t i) -> Status {
                          if (r.is_null(i)) return {};
                          compute::Allocation a;
                          a.cpus = static_cast<int>(r.i64(i));
                          a.mem_mb = r.i64(i + 1);
                          a.gpus = nlohmann::json::parse(r.str(i + 2)).get<std::vector<int>>();
                          rec.job.allocation = a;
                          return {};
                        }),
    db::col<&JobRecord::cpu_seconds>("cpu_seconds"),
    db::col<&JobRecord::peak_mem_mb>("peak_mem_mb"),
    db::col<JobRecord>("enforced",
                       [](JobRecord& rec, const db::Row& r, std::size_t i) -> Status {
                         auto enforced = r.str(i);
                         if (!enforced.empty()) rec.enforced = nlohmann::json::parse(enforced);
                         return {};
                       }),
    db::col<&JobRecord::job, &Job::requeue_count>("requeue_count"),
    db::col<&JobRecord::stop_requested>("stop_requested"),
    db::col<&JobRecord::version>("version"),
    db::cols<JobRecord>(2, "image_name, image_digest",
                        [](JobRecord& rec, const db::Row& r, std::size_t i) -> Status {
                          if (!r.str(i + 1).empty()) rec.image = ImageRef{r.str(i), r.str(i + 1)};
                          return {};
                        }),
    db::col<&JobRecord::partition>("partition"),
};
const std::string kCols = kJob.list();

Result<JobRecord> from_row(const db::Row& r) { return kJob.read(r); }

Result<std::vector<JobRecord>> read_all(db::Tx& tx, const std::string& sql, const db::Params& params) {
  auto rows = TRY(tx.query(sql, params));
  std::vector<JobRecord> out;
  out.reserve(rows.size());
  for (auto& r : rows) out.push_back(TRY(from_row(r)));
  return out;
}

}  // namespace

std::vector<db::Migration> migrations() {
  return {{1, "jobs",
           "CREATE TABLE jobs ("
           " id TEXT PRIMARY KEY, org_id TEXT NOT NULL, project_id TEXT NOT NULL, group_id TEXT NOT NULL,"
           " user_id TEXT NOT NULL, name TEXT NOT NULL, qos TEXT NOT NULL, nice INTEGER NOT NULL,"
           " argv TEXT NOT NULL, script TEXT NOT NULL, env TEXT NOT NULL, uid INTEGER NOT NULL,"
           " cpus INTEGER NOT NULL, mem_mb INTEGER NOT NULL, gpus INTEGER NOT NULL, time_limit_ms INTEGER NOT NULL,"
           " begin_ms INTEGER, dependency TEXT NOT NULL, array_id TEXT, array_index INTEGER, array_max INTEGER,"
           " array_spec TEXT NOT NULL, state TEXT NOT NULL, held INTEGER NOT NULL, reason TEXT NOT NULL,"
           " reason_detail TEXT NOT NULL, submit_ms INTEGER NOT NULL, start_ms INTEGER, end_ms INTEGER,"
           " exit_code INTEGER, alloc_cpus INTEGER, alloc_mem_mb INTEGER, alloc_gpus TEXT, cpu_seconds REAL,"
           " peak_mem_mb INTEGER, enforced TEXT NOT NULL DEFAULT '', requeue_count INTEGER NOT NULL,"
           " stop_requested TEXT NOT NULL DEFAULT '', version INTEGER NOT NULL);"
           "CREATE INDEX jobs_project ON jobs (project_id, id);"
           "CREATE INDEX jobs_user ON jobs (user_id, id);"
           "CREATE INDEX jobs_org ON jobs (org_id, id);"
           "CREATE INDEX jobs_array ON jobs (array_id) WHERE array_id IS NOT NULL;"
           "CREATE INDEX jobs_active ON jobs (state) WHERE state IN ('PENDING', 'RUNNING');"
           "CREATE INDEX jobs_ended ON jobs (end_ms) WHERE end_ms IS NOT NULL;"
           "CREATE TABLE job_events ("
           " job_id TEXT NOT NULL, seq INTEGER NOT NULL, at_ms INTEGER NOT NULL, from_state TEXT,"
           " to_state TEXT NOT NULL, event TEXT NOT NULL, reason TEXT NOT NULL, cause TEXT NOT NULL,"
           " exit_code INTEGER, PRIMARY KEY (job_id, seq));"
           "CREATE TABLE job_uids (user_id TEXT PRIMARY KEY, uid INTEGER NOT NULL UNIQUE);"},
          {2, "job datasets",
           "CREATE TABLE job_datasets (job_id TEXT NOT NULL, name TEXT NOT NULL, dataset_id TEXT NOT NULL,"
           " number INTEGER NOT NULL, PRIMARY KEY (job_id, name));"},
          {3, "job outputs",
           "CREATE TABLE job_outputs (job_id TEXT PRIMARY KEY, dataset_id TEXT NOT NULL, dataset_name TEXT NOT NULL,"
           " globs TEXT NOT NULL);"},
          {4, "job commits",
           "CREATE TABLE job_commits (job_id TEXT PRIMARY KEY, ref TEXT NOT NULL, commit_id TEXT NOT NULL);"},
          {5, "jobs managed by another module",
           "ALTER TABLE jobs ADD COLUMN managed_by TEXT NOT NULL DEFAULT '';"},
          {6, "a change sequence for the job event stream; the version a job's outputs made",
           "ALTER TABLE jobs ADD COLUMN change_seq INTEGER NOT NULL DEFAULT 0;"
           "CREATE INDEX jobs_change ON jobs (change_seq);"
           "ALTER TABLE job_outputs ADD COLUMN version INTEGER;"},
          {7, "when a job's end is mailed to its owner (notify at submission)",
           "CREATE TABLE job_notify (job_id TEXT PRIMARY KEY, notify TEXT NOT NULL);"},
          {8, "the image a job runs on (name as chosen, digest pinned at submission)",
           "ALTER TABLE jobs ADD COLUMN image_name TEXT NOT NULL DEFAULT '';"
           "ALTER TABLE jobs ADD COLUMN image_digest TEXT NOT NULL DEFAULT '';"
           "CREATE INDEX jobs_active_image ON jobs (image_digest) WHERE state IN ('PENDING', 'RUNNING');"},

          {9, "the secrets a job asked for: names, where they go, the scope pinned at submission (never a value)",
           "CREATE TABLE job_secrets (job_id TEXT PRIMARY KEY, requests TEXT NOT NULL);"},
          {10, "remote partitions: where a job runs (local = this server); an org's default partition",
           "ALTER TABLE jobs ADD COLUMN partition TEXT NOT NULL DEFAULT 'local';"
           "CREATE INDEX jobs_remote_active ON jobs (partition) WHERE state IN ('PENDING', 'RUNNING') AND "
           "partition <> 'local';"
           "CREATE TABLE org_compute (org_id TEXT PRIMARY KEY, default_partition TEXT NOT NULL,"
           " version INTEGER NOT NULL);"},
          {11, "an org's runs by start time (GET /api/v1/orgs/{org}/usage over many jobs)",
           "CREATE INDEX jobs_org_start ON jobs (org_id, start_ms) WHERE start_ms IS NOT NULL;"},
          {12, "an org's runs by end time with every column its usage reads: a covering index range, no table lookups",
           "DROP INDEX jobs_org_start;"
           "CREATE INDEX jobs_org_runs ON jobs (org_id, end_ms, start_ms, alloc_cpus, alloc_gpus, cpu_seconds, group_id,"
           " user_id, project_id) WHERE start_ms IS NOT NULL;"}};
}

Status bump_change(db::Tx& tx, const std::string& job_id) {
  // Writers are serialised (one write transaction at a time), so MAX + 1 grows in commit order.
  TRY(tx.exec("UPDATE jobs SET change_seq = (SELECT COALESCE(MAX(change_seq), 0) + 1 FROM jobs) WHERE id = ?",
              {job_id}));
  return {};
}

Status set_managed_by(db::Tx& tx, const std::string& job_id, const std::string& manager) {
  TRY(tx.exec("UPDATE jobs SET managed_by = ? WHERE id = ?", {manager, job_id}));
  return {};
}

Result<std::string> managed_by(db::Tx& tx, const std::string& job_id) {
  auto r = TRY(tx.query_one("SELECT managed_by FROM jobs WHERE id = ?", {job_id}));
  return r ? r->str(0) : std::string();
}

Status insert_commit(db::Tx& tx, const std::string& job_id, const CommitPin& c) {
  TRY(tx.exec("INSERT INTO job_commits (job_id, ref, commit_id) VALUES (?, ?, ?)", {job_id, c.ref, c.commit}));
  return {};
}

Result<std::optional<CommitPin>> job_commit(db::Tx& tx, const std::string& job_id) {
  auto r = TRY(tx.query_one("SELECT ref, commit_id FROM job_commits WHERE job_id = ?", {job_id}));
  if (!r) return std::optional<CommitPin>();
  return std::optional<CommitPin>(CommitPin{r->str(0), r->str(1)});
}

Status insert_outputs(db::Tx& tx, const std::string& job_id, const OutputsSpec& o) {
  TRY(tx.exec("INSERT INTO job_outputs (job_id, dataset_id, dataset_name, globs) VALUES (?, ?, ?, ?)",
              {job_id, o.dataset_id, o.dataset_name, nlohmann::json(o.globs).dump()}));
  return {};
}

Status insert_notify(db::Tx& tx, const std::string& job_id, const std::string& notify) {
  TRY(tx.exec("INSERT INTO job_notify (job_id, notify) VALUES (?, ?)", {job_id, notify}));
  return {};
}

Status insert_secrets(db::Tx& tx, const std::string& job_id, const std::vector<secrets::Request>& rs) {
  if (rs.empty()) return {};
  nlohmann::json a = nlohmann::json::array();
  for (auto& r : rs) a.push_back({{"name", r.name}, {"as", r.as}, {"scope", r.scope}});
  TRY(tx.exec("INSERT INTO job_secrets (job_id, requests) VALUES (?, ?)", {job_id, a.dump()}));
  return {};
}

Result<std::vector<secrets::Request>> job_secrets(db::Tx& tx, const std::string& job_id) {
  std::vector<secrets::Request> out;
  auto r = TRY(tx.query_one("SELECT requests FROM job_secrets WHERE job_id = ?", {job_id}));
  if (!r) return out;
  auto a = nlohmann::json::parse(r->str(0), nullptr, false);
  if (!a.is_array()) return internal("job " + job_id + ": its secrets row is damaged");
  for (auto& x : a) out.push_back({x.value("name", ""), x.value("as", "env"), x.value("scope", "")});
  return out;
}

Result<std::string> job_notify(db::Tx& tx, const std::string& job_id) {
  auto r = TRY(tx.query_one("SELECT notify FROM job_notify WHERE job_id = ?", {job_id}));
  return r ? r->str(0) : std::string();
}

Result<std::optional<OutputsSpec>> job_outputs(db::Tx& tx, const std::string& job_id) {
  auto r = TRY(tx.query_one("SELECT dataset_id, dataset_name, globs, version FROM job_outputs WHERE job_id = ?",
                            {job_id}));
  if (!r) return std::optional<OutputsSpec>();
  return std::optional<OutputsSpec>(OutputsSpec{r->str(0), r->str(1),
                                                nlohmann::json::parse(r->str(2)).get<std::vector<std::string>>(),
                                                r->opt_i64(3)});
}

Status set_outputs_version(db::Tx& tx, const std::string& job_id, std::int64_t number) {
  TRY(tx.exec("UPDATE job_outputs SET version = ? WHERE job_id = ?", {number, job_id}));
  return bump_change(tx, job_id);
}

Status insert_datasets(db::Tx& tx, const std::string& job_id, const std::vector<DatasetMount>& ds) {
  for (auto& d : ds)
    TRY(tx.exec("INSERT INTO job_datasets (job_id, name, dataset_id, number) VALUES (?, ?, ?, ?)",
                {job_id, d.name, d.dataset_id, d.number}));
  return {};
}

Result<std::vector<DatasetMount>> job_datasets(db::Tx& tx, const std::string& job_id) {
  std::vector<DatasetMount> out;
  for (auto& r : TRY(tx.query("SELECT name, dataset_id, number FROM job_datasets WHERE job_id = ? ORDER BY name",
                              {job_id})))
    out.push_back({r.str(0), r.str(1), r.i64(2)});
  return out;
}

Status insert(db::Tx& tx, const JobRecord& r) {
  const Job& j = r.job;
  std::string dep = j.dependency.empty() ? "" : compute::format_dependency(j.dependency);
  TRY(tx.exec(fmt::format("INSERT INTO jobs ({}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                          "?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '', 0, '', 1, ?, ?, ?)",
                          kCols),
              {j.id,
               j.assoc.org,
               r.project_id,
               j.assoc.group,
               j.assoc.user,
               j.name,
               j.qos,
               std::int64_t{j.nice},
               nlohmann::json(r.argv).dump(),
               r.script,
               nlohmann::json(r.env).dump(),
               r.uid,
               std::int64_t{j.request.cpus},
               j.request.mem_mb,
               std::int64_t{j.request.gpus},
               j.request.time_limit,
               opt_ms(j.begin_time),
               dep,
               j.array ? db::Value(j.array->array_id) : db::Value(nullptr),
               j.array ? db::Value(std::int64_t{j.array->index}) : db::Value(nullptr),
               j.array ? db::Value(std::int64_t{j.array->max_concurrent}) : db::Value(nullptr),
               r.array_spec,
               std::string(compute::state_name(j.state)),
               std::int64_t{j.held},
               j.reason == compute::PendingReason::kNone ? std::string() : std::string(compute::reason_name(j.reason)),
               j.reason_detail,
               j.submit_time,
               r.image ? r.image->name : std::string(),
               r.image ? r.image->digest : std::string(),
               r.partition}));
  TRY(tx.exec("INSERT INTO job_events (job_id, seq, at_ms, from_state, to_state, event, reason, cause, exit_code) "
              "VALUES (?, 1, ?, NULL, 'PENDING', 'submit', '', ?, NULL)",
              {j.id, j.submit_time, std::string(j.held ? "submitted held" : "submitted")}));
  return bump_change(tx, j.id);
}

Status record_transition(db::Tx& tx, const Job& j, const compute::Transition& t) {
  // Pending reasons change on every pass and live in memory; the row keeps the reason a job ended
  // with (DependencyNeverSatisfied...) and whether it is held.
  bool keep_reason = compute::is_terminal(j.state) || j.held;
  std::string reason = keep_reason && j.reason != compute::PendingReason::kNone
                           ? std::string(compute::reason_name(j.reason))
                           : std::string();
  std::string detail = keep_reason ? j.reason_detail : std::string();
  db::Value ac = nullptr, am = nullptr, ag = nullptr;
  if (j.allocation) {
    ac = std::int64_t{j.allocation->cpus};
    am = j.allocation->mem_mb;
    ag = nlohmann::json(j.allocation->gpus).dump();
  }
  bool clear_stop = t.to != JobState::kRunning;
  auto n = TRY(tx.exec(
      std::string("UPDATE jobs SET state = ?, held = ?, reason = ?, reason_detail = ?, start_ms = ?, end_ms = ?, "
                  "exit_code = ?, alloc_cpus = ?, alloc_mem_mb = ?, alloc_gpus = ?, requeue_count = ?, ") +
          (clear_stop ? "stop_requested = '', " : "") + "version = version + 1 WHERE id = ?",
      {std::string(compute::state_name(j.state)), std::int64_t{j.held}, reason, detail, opt_ms(j.start_time),
       opt_ms(j.end_time), j.exit_code ? db::Value(std::int64_t{*j.exit_code}) : db::Value(nullptr), ac, am, ag,
       std::int64_t{j.requeue_count}, j.id}));
  if (n != 1) return not_found("job " + j.id);
  TRY(tx.exec("INSERT INTO job_events (job_id, seq, at_ms, from_state, to_state, event, reason, cause, exit_code) "
              "VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM job_events WHERE job_id = ?), ?, ?, ?, ?, ?, ?, ?)",
              {t.job, t.job, t.at, t.from ? db::Value(std::string(compute::state_name(*t.from))) : db::Value(nullptr),
               std::string(compute::state_name(t.to)), std::string(compute::event_name(t.event)),
               t.reason == compute::PendingReason::kNone ? std::string() : std::string(compute::reason_name(t.reason)),
               t.cause, t.exit_code ? db::Value(std::int64_t{*t.exit_code}) : db::Value(nullptr)}));
  return bump_change(tx, t.job);
}

Status set_measurements(db::Tx& tx, const std::string& id, const compute::JobUsage& usage,
                        const nlohmann::json& enforced) {
  TRY(tx.exec("UPDATE jobs SET cpu_seconds = ?, peak_mem_mb = ?, enforced = ? WHERE id = ?",
              {usage.cpu_seconds, usage.peak_mem_mb, enforced.is_null() ? std::string() : enforced.dump(), id}));
  return {};
}

Status set_stop_requested(db::Tx& tx, const std::string& id, const std::string& what) {
  TRY(tx.exec("UPDATE jobs SET stop_requested = ?, version = version + 1 WHERE id = ?", {what, id}));
  return bump_change(tx, id);
}

Result<std::optional<JobRecord>> get(db::Tx& tx, const std::string& id) {
  auto row = TRY(tx.query_one(fmt::format("SELECT {} FROM jobs WHERE id = ?", kCols), {id}));
  if (!row) return std::optional<JobRecord>{};
  return std::optional<JobRecord>(TRY(from_row(*row)));
}

Result<std::vector<JobRecord>> load_active(db::Tx& tx) {
  auto active = TRY(read_all(tx, fmt::format("SELECT {} FROM jobs WHERE state IN ('PENDING', 'RUNNING')", kCols), {}));
  // Finished jobs that a pending job depends on (by job id or by array id).
  std::vector<std::string> targets;
  for (auto& r : active)
    for (auto& d : r.job.dependency.items)
      if (!d.target.empty()) targets.push_back(d.target);
  std::sort(targets.begin(), targets.end());
  targets.erase(std::unique(targets.begin(), targets.end()), targets.end());
  for (auto& t : targets) {
    auto more = TRY(read_all(tx,
                             fmt::format("SELECT {} FROM jobs WHERE (id = ? OR array_id = ?) AND state NOT IN "
                                         "('PENDING', 'RUNNING')",
                                         kCols),
                             {t, t}));
    for (auto& m : more) active.push_back(std::move(m));
  }
  return active;
}

Result<std::vector<JobRecord>> load_finished_since(db::Tx& tx, Millis since) {
  return read_all(tx,
                  fmt::format("SELECT {} FROM jobs WHERE end_ms IS NOT NULL AND end_ms >= ? AND start_ms IS NOT NULL",
                              kCols),
                  {since});
}

Result<std::vector<JobRecord>> list(db::Tx& tx, const ListFilter& f) {
  std::string where = "1 = 1";
  db::Params p;
  auto add = [&](const char* clause, const std::string& v) {
    where += clause;
    p.push_back(v);
  };
  if (!f.project_id.empty()) add(" AND project_id = ?", f.project_id);
  if (!f.user_id.empty()) add(" AND user_id = ?", f.user_id);
  if (!f.org_id.empty()) add(" AND org_id = ?", f.org_id);
  if (!f.array_id.empty()) add(" AND array_id = ?", f.array_id);
  if (!f.after.empty()) add(" AND id > ?", f.after);
  if (!f.states.empty()) {
    where += " AND state IN (";
    for (std::size_t i = 0; i < f.states.size(); ++i) {
      where += i ? ", ?" : "?";
      p.push_back(f.states[i]);
    }
    where += ")";
  }
  p.push_back(std::int64_t{f.limit});
  return read_all(tx, fmt::format("SELECT {} FROM jobs WHERE {} ORDER BY id LIMIT ?", kCols, where), p);
}

Result<std::vector<Changed>> changed_since(db::Tx& tx, const ChangeFilter& f) {
  std::string where = "change_seq > ?";
  db::Params p{f.after};
  if (!f.project_id.empty()) {
    where += " AND project_id = ?";
    p.push_back(f.project_id);
  }
  if (!f.user_id.empty()) {
    where += " AND user_id = ?";
    p.push_back(f.user_id);
  }
  p.push_back(std::int64_t{f.limit});
  auto rows = TRY(tx.query(
      fmt::format("SELECT {}, change_seq FROM jobs WHERE {} ORDER BY change_seq LIMIT ?", kCols, where), p));
  std::vector<Changed> out;
  out.reserve(rows.size());
  for (auto& r : rows) out.push_back({r.i64(r.size() - 1), TRY(from_row(r))});
  return out;
}

Result<std::int64_t> last_change(db::Tx& tx) {
  auto r = TRY(tx.query_one("SELECT COALESCE(MAX(change_seq), 0) FROM jobs"));
  return r ? r->i64(0) : std::int64_t{0};
}

Result<std::vector<std::string>> array_tasks(db::Tx& tx, const std::string& array_id) {
  auto rows = TRY(tx.query("SELECT id FROM jobs WHERE array_id = ? ORDER BY array_index", {array_id}));
  std::vector<std::string> out;
  for (auto& r : rows) out.push_back(r.str(0));
  return out;
}

Result<std::vector<std::string>> job_or_tasks(db::Tx& tx, const std::string& id) {
  auto rows = TRY(tx.query("SELECT id FROM jobs WHERE id = ? OR array_id = ?", {id, id}));
  std::vector<std::string> out;
  for (auto& r : rows) out.push_back(r.str(0));
  return out;
}

Result<std::optional<std::string>> org_of(db::Tx& tx, const std::string& id) {
  auto row = TRY(tx.query_one("SELECT org_id FROM jobs WHERE id = ? OR array_id = ? LIMIT 1", {id, id}));
  if (!row) return std::optional<std::string>();
  return std::optional<std::string>(row->str(0));
}

Result<std::optional<std::string>> partition_of(db::Tx& tx, const std::string& id) {
  auto row = TRY(tx.query_one("SELECT partition FROM jobs WHERE id = ? OR array_id = ? LIMIT 1", {id, id}));
  if (!row) return std::optional<std::string>();
  return std::optional<std::string>(row->str(0));
}

Result<bool> image_in_use(db::Tx& tx, const std::string& digest) {
  auto r = TRY(tx.query_one("SELECT 1 FROM jobs WHERE image_digest = ? AND state IN ('PENDING', 'RUNNING') LIMIT 1",
                            {digest}));
  return r.has_value();
}

Result<bool> running_job_mounts(db::Tx& tx, const std::string& dataset_id, std::int64_t number, std::int64_t uid) {
  // A remote job's copy is made when it is handed over (prepare_remote), while it is still PENDING.
  auto r = TRY(tx.query_one("SELECT 1 FROM job_datasets d JOIN jobs j ON j.id = d.job_id WHERE d.dataset_id = ? "
                            "AND d.number = ? AND j.uid = ? AND (j.state = 'RUNNING' OR (j.state = 'PENDING' "
                            "AND j.partition <> 'local')) LIMIT 1",
                            {dataset_id, number, uid}));
  return r.has_value();
}

Result<nlohmann::json> events(db::Tx& tx, const std::string& id) {
  auto rows = TRY(tx.query("SELECT seq, at_ms, from_state, to_state, event, reason, cause, exit_code FROM job_events "
                           "WHERE job_id = ? ORDER BY seq",
                           {id}));
  auto out = nlohmann::json::array();
  for (auto& r : rows) {
    nlohmann::json e{{"seq", r.i64(0)},          {"at", format_rfc3339(r.i64(1))},
                     {"from", r.opt_str(2).value_or("")}, {"to", r.str(3)},
                     {"event", r.str(4)},        {"reason", r.str(5)},
                     {"cause", r.str(6)}};
    if (r.is_null(2)) e["from"] = nullptr;
    e["exit_code"] = r.is_null(7) ? nlohmann::json(nullptr) : nlohmann::json(r.i64(7));
    out.push_back(std::move(e));
  }
  return out;
}

Result<OrgCompute> org_compute(db::Tx& tx, const std::string& org_id) {
  auto r = TRY(tx.query_one("SELECT default_partition, version FROM org_compute WHERE org_id = ?", {org_id}));
  if (!r) return OrgCompute{};
  return OrgCompute{r->str(0), r->i64(1)};
}

Result<bool> set_org_compute(db::Tx& tx, const std::string& org_id, const std::string& partition,
                             std::int64_t expected_version) {
  if (expected_version == 0) {
    auto n = TRY(tx.exec("INSERT INTO org_compute (org_id, default_partition, version) VALUES (?, ?, 1) "
                         "ON CONFLICT (org_id) DO NOTHING",
                         {org_id, partition}));
    return n == 1;
  }
  auto n = TRY(tx.exec("UPDATE org_compute SET default_partition = ?, version = version + 1 WHERE org_id = ? AND "
                       "version = ?",
                       {partition, org_id, expected_version}));
  return n == 1;
}

Result<std::int64_t> uid_for(db::Tx& tx, const std::string& user_id, std::int64_t uid_base) {
  if (auto row = TRY(tx.query_one("SELECT uid FROM job_uids WHERE user_id = ?", {user_id}))) return row->i64(0);
  auto next = TRY(tx.query_one("SELECT COALESCE(MAX(uid) + 1, ?) FROM job_uids WHERE uid >= ?", {uid_base, uid_base}));
  std::int64_t uid = next->i64(0);
  TRY(tx.exec("INSERT INTO job_uids (user_id, uid) VALUES (?, ?)", {user_id, uid}));
  return uid;
}

}  // namespace atrium::jobs
