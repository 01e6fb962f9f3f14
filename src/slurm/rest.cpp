// slurmrestd v0.0.38 (SLURM 22.05.8, Debian 12) as it answers, checked against its OpenAPI document
// (GET /openapi/v3) and real answers (testdata/ holds some):
//
// - Paths: /slurm/v0.0.38/{ping,diag,jobs,job/submit,job/{id} (GET, POST = update, DELETE = signal),
//   nodes,node/{n},partitions,partition/{p},reservations,licenses}. No requeue anywhere: POST
//   /job/{id} takes job properties only (its `requeue` is the job's requeue *eligibility*), so
//   requeue is scontrol-only in 22.05 and Rest::requeue says so.
// - Submit: {"script", "job": {...}}; `environment` is an OBJECT and required. Fields used: name,
//   comment, partition, account, current_working_directory, standard_output, standard_error,
//   cpus_per_task, memory_per_node (MB), gres ("gpu:N"; `gpus` and `gres` both exist, both are
//   checked by slurmrestd against the configured GresTypes: 400 "Failure during parsing" on a cluster
//   without gpus; `tres_per_node` is not a v0.0.38 key; on a cluster with GresTypes=gpu "gpu:1"
//   shows as tres_per_node "gres:gpu:1" and the job gets CUDA_VISIBLE_DEVICES), time_limit (minutes), array ("0-9%2"),
//   dependency ("afterok:12"), hold (bool), requeue (bool, but `false` is IGNORED by 22.05: the job
//   keeps the cluster's JobRequeue default; on a node failure SLURM then requeues it: PENDING again,
//   restart_cnt 1, nodes "", start_time = its new begin time). Answer {"job_id", "step_id": "BATCH",
//   "errors": []}. A held submit answers 200 with job_id AND errors [{2042 "Job is in held state,
//   pending scheduler release"}]: the job_id decides success.
// - Errors: {"errors":[{"error", "error_number" | "error_code" (submit) | "errno" (nodes,
//   partitions), "description", "source"}]}, HTTP 500 for SLURM's refusals too (invalid partition
//   2000, memory 2014, unknown job 2017, "Job has already finished" 2084), 400 for slurmrestd's own
//   parse errors (9001). slurmctld down: HTTP 500 with errno -1 "Unspecified error" (GETs, after
//   ~0.1 s), 1800 "Unable to contact slurm controller" (submit, DELETE; ~9 s: MessageTimeout
//   retries) or 1000 "Unexpected message received" (POST /job/{id}). A bad token: 401.
// - Jobs: job_state is job_state_string(): the base name (PENDING, RUNNING, COMPLETED, FAILED,
//   CANCELLED, TIMEOUT, NODE_FAIL, OUT_OF_MEMORY, PREEMPTED, BOOT_FAIL, DEADLINE, SUSPENDED) unless a
//   flag is set, then the flag's name (COMPLETING, CONFIGURING, REQUEUED, RESIZING, ...): a running
//   job cancelled shows COMPLETING (exit_code 0) until its processes are gone (up to KillWait),
//   then CANCELLED (exit_code 9 when SIGKILL was needed).
//   state_reason "None" when none ("Priority", "Resources", "Dependency", "JobHeldUser",
//   "JobHeldAdmin", "NonZeroExitCode", "BadConstraints", "JobLaunchFailure", "TimeLimit", ...).
//   exit_code is the raw wait status (exit 3 -> 768, SIGKILL -> 9); derived_exit_code is the
//   highest of the steps (0 without steps). Times are unix seconds, 0 = not yet; start_time of a
//   PENDING job is the scheduler's expected start (0 when none), end_time of a RUNNING job is
//   start + time limit (a year on when unlimited). time_limit null = partition default/INFINITE.
//   A node failure (slurmd killed, SlurmdTimeout): RUNNING until the node is declared down, then
//   NODE_FAIL with reason "NodeDown", exit_code 0, nodes kept - or, when requeue-eligible (see above), PENDING again.
//   Held: PENDING, priority 0, reason JobHeldUser/JobHeldAdmin (a hold on a RUNNING job sets
//   priority 0 and the reason too, and is then ignored). nodes "" until it runs.
// - Arrays: each started task is its own record (job_id = a new id, array_job_id = the array's,
//   array_task_id = n); the not-yet-started rest is one record with job_id = array_job_id,
//   array_task_id null, array_task_string "3-5%2" (the throttle kept); the first task to start may
//   take the array's own id.
// - GET /jobs?update_time=T (unix seconds): all or nothing: HTTP 304 and an empty body when no job
//   changed since T (slurmctld: last_update - 1 >= last_job_update), else every job it knows.
// - Hold / release: POST /job/{id} {"hold": true|false} (release recomputes the priority).
//   Cancel: DELETE /job/{id} (SIGKILL request: SIGCONT+SIGTERM, SIGKILL after KillWait); on a
//   finished job 200 too. Unknown id: 500 with 2017.
// - Partitions: max_time_limit -1 (INFINITE), maximum_cpus_per_node -1, maximum_memory_per_node
//   null when unset; nodes is a host list expression ("n[1-2]"): we use each node's `partitions`.
//   Nodes: state lower case ("idle", "allocated", "mixed", "down"), drain etc. in state_flags.
#include "slurm/rest.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>

#include "core/crypto.hpp"
#include "slurm/rest_parse.hpp"

namespace atrium::slurm {
namespace {

using nlohmann::json;
using rest_detail::Op;

struct Body {
  std::string data;
  std::size_t limit = 0;
  bool overflow = false;
};

std::size_t on_data(char* p, std::size_t size, std::size_t n, void* ud) {
  auto* b = static_cast<Body*>(ud);
  if (b->data.size() + size * n > b->limit) {
    b->overflow = true;
    return 0;  // aborts the transfer
  }
  b->data.append(p, size * n);
  return size * n;
}

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

struct Answer {
  long status = 0;
  std::string body;
};

}  // namespace

struct Rest::Impl {
  RestConfig cfg;
  std::string base;         // "http://host:port/slurm/v0.0.38" (unix: "http://localhost/...")
  std::string unix_socket;  // "" = TCP

  std::mutex pool_mu;
  std::condition_variable pool_cv;
  std::vector<CURL*> idle;
  int open = 0;

  std::mutex token_mu;
  std::string token;
  std::int64_t token_renew_at = 0;

  ~Impl() {
    for (CURL* c : idle) curl_easy_cleanup(c);
  }

  // A handle of the pool (its connection kept alive), waiting while max_connections are in use.
  CURL* take() {
    std::unique_lock lock(pool_mu);
    pool_cv.wait(lock, [&] { return !idle.empty() || open < std::max(1, cfg.max_connections); });
    if (!idle.empty()) {
      CURL* c = idle.back();
      idle.pop_back();
      return c;
    }
    CURL* c = curl_easy_init();
    if (c) ++open;
    return c;
  }

  void give(CURL* c, bool keep) {
    {
      std::lock_guard lock(pool_mu);
      if (keep) {
        idle.push_back(c);
      } else {
        curl_easy_cleanup(c);
        --open;
      }
    }
    pool_cv.notify_one();
  }

  std::string current_token() {
    std::lock_guard lock(token_mu);
    std::int64_t now = now_s();
    if (token.empty() || now >= token_renew_at) {
      token = mint_token(cfg.jwt_key, cfg.user, now, cfg.token_lifetime_s);
      token_renew_at = now + cfg.token_lifetime_s / 2;
    }
    return token;
  }

  Result<Answer> call(const char* method, const std::string& path, const std::string* body);
  Result<json> call_json(const char* method, const std::string& path, const std::string* body, Op op);
};

Result<Answer> Rest::Impl::call(const char* method, const std::string& path, const std::string* body) {
  CURL* c = take();
  if (!c) return internal("curl_easy_init failed");
  curl_easy_reset(c);  // keeps the connection
  Body out{.data = {}, .limit = cfg.max_response_bytes, .overflow = false};
  std::string url = base + path;
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  if (!unix_socket.empty()) curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, unix_socket.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(cfg.timeout));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(std::min<Millis>(cfg.timeout, 5000)));
  curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "atrium-slurm");
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  curl_slist* headers = curl_slist_append(nullptr, "Accept: application/json");
  headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip before a body
  std::string user_h, token_h;
  if (!cfg.jwt_key.empty()) {
    user_h = "X-SLURM-USER-NAME: " + cfg.user;
    token_h = "X-SLURM-USER-TOKEN: " + current_token();
    headers = curl_slist_append(headers, user_h.c_str());
    headers = curl_slist_append(headers, token_h.c_str());
  }
  if (body) {
    headers = curl_slist_append(headers, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body->data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body->size()));
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  CURLcode rc = curl_easy_perform(c);
  Answer a;
  if (rc == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a.status);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, nullptr);
  curl_slist_free_all(headers);
  give(c, rc == CURLE_OK);
  if (out.overflow)
    return fail(ErrorCode::kUnavailable, "slurm-unavailable",
                "slurmrestd's answer to " + path + " exceeds " + std::to_string(cfg.max_response_bytes) + " bytes");
  if (rc != CURLE_OK)
    return fail(ErrorCode::kUnavailable, "slurm-unavailable",
                "slurmrestd (" + cfg.url + ") did not answer: " + (errbuf[0] ? std::string(errbuf) : curl_easy_strerror(rc)));
  a.body = std::move(out.data);
  return a;
}

Result<json> Rest::Impl::call_json(const char* method, const std::string& path, const std::string* body, Op op) {
  Answer a = TRY(call(method, path, body));
  if (a.status < 200 || a.status >= 300) return fail(rest_detail::classify(a.status, a.body, op));
  json j = json::parse(a.body, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return fail(ErrorCode::kUnavailable, "slurm-unavailable", "slurmrestd's answer to " + path + " is not JSON");
  return j;
}

Rest::Rest(RestConfig cfg) : impl_(std::make_unique<Impl>()) {
  global_init();
  crypto::init();
  impl_->cfg = std::move(cfg);
  std::string host = impl_->cfg.url;
  if (host.starts_with("unix:")) {
    impl_->unix_socket = host.substr(5);
    host = "http://localhost";
  }
  while (host.ends_with('/')) host.pop_back();
  impl_->base = host + "/slurm/" + impl_->cfg.version;
}

Rest::~Rest() = default;

std::string Rest::mint_token(const std::string& key, const std::string& user, std::int64_t now_s,
                             std::int64_t lifetime_s) {
  crypto::init();
  std::string header = crypto::base64url(R"({"alg":"HS256","typ":"JWT"})");
  json claims = {{"exp", now_s + lifetime_s}, {"iat", now_s}, {"sun", user}};  // keys sorted: exp, iat, sun
  std::string signing = header + "." + crypto::base64url(claims.dump());
  return signing + "." + crypto::base64url(crypto::hmac_sha256(key, signing));
}

Result<SubmitResult> Rest::submit(const JobSubmission& job) {
  std::string body = rest_detail::submission(job).dump();
  json j = TRY(impl_->call_json("POST", "/job/submit", &body, Op::kSubmit));
  auto it = j.find("job_id");
  if (it == j.end() || !it->is_number_integer() || it->get<std::int64_t>() <= 0)
    return fail(rest_detail::classify(500, j.dump(), Op::kSubmit));
  return SubmitResult{.job_id = it->get<std::int64_t>()};
}

Result<JobList> Rest::jobs(Millis changed_since) {
  std::string path = "/jobs";
  if (changed_since > 0) path += "?update_time=" + std::to_string(changed_since / 1000);
  Answer a = TRY(impl_->call("GET", path, nullptr));
  if (a.status == 304) return JobList{.jobs = {}, .unchanged = true};
  if (a.status < 200 || a.status >= 300) return fail(rest_detail::classify(a.status, a.body, Op::kRead));
  json j = json::parse(a.body, nullptr, false);
  if (!j.is_object()) return fail(ErrorCode::kUnavailable, "slurm-unavailable", "slurmrestd's job list is not JSON");
  return JobList{.jobs = rest_detail::parse_jobs(j), .unchanged = false};
}

Result<std::optional<JobInfo>> Rest::job(std::int64_t job_id) {
  auto j = impl_->call_json("GET", "/job/" + std::to_string(job_id), nullptr, Op::kRead);
  if (!j) {
    if (j.error().code == ErrorCode::kNotFound) return std::optional<JobInfo>();
    return std::unexpected(std::move(j).error());
  }
  for (JobInfo& info : rest_detail::parse_jobs(*j))
    if (info.job_id == job_id) return std::optional<JobInfo>(std::move(info));
  return std::optional<JobInfo>();
}

Status Rest::cancel(std::int64_t job_id) {
  TRY_STATUS(impl_->call_json("DELETE", "/job/" + std::to_string(job_id), nullptr, Op::kControl));
  return {};
}

Status Rest::hold(std::int64_t job_id) {
  static const std::string kBody = R"({"hold":true})";
  TRY_STATUS(impl_->call_json("POST", "/job/" + std::to_string(job_id), &kBody, Op::kControl));
  return {};
}

Status Rest::release(std::int64_t job_id) {
  static const std::string kBody = R"({"hold":false})";
  TRY_STATUS(impl_->call_json("POST", "/job/" + std::to_string(job_id), &kBody, Op::kControl));
  return {};
}

Status Rest::requeue(std::int64_t job_id) {
  return fail(ErrorCode::kFailedPrecondition, "slurm-unsupported",
              "SLURM 22.05's REST API (" + impl_->cfg.version + ") cannot requeue job " + std::to_string(job_id) +
                  "; cancel it and submit it again");
}

Result<std::vector<PartitionState>> Rest::partitions(std::vector<NodeState>* nodes) {
  json parts = TRY(impl_->call_json("GET", "/partitions", nullptr, Op::kRead));
  json node_list = TRY(impl_->call_json("GET", "/nodes", nullptr, Op::kRead));
  if (nodes) *nodes = rest_detail::parse_nodes(node_list);
  return rest_detail::parse_partitions(parts, node_list);
}

Result<std::vector<NodeState>> Rest::nodes() {
  json j = TRY(impl_->call_json("GET", "/nodes", nullptr, Op::kRead));
  return rest_detail::parse_nodes(j);
}

Result<Diag> Rest::diag() {
  json j = TRY(impl_->call_json("GET", "/diag", nullptr, Op::kRead));
  return rest_detail::parse_diag(j);
}

Status Rest::ping() {
  json j = TRY(impl_->call_json("GET", "/ping", nullptr, Op::kRead));
  auto it = j.find("pings");
  if (it != j.end() && it->is_array())
    for (auto& p : *it)
      if (p.is_object() && p.value("ping", "") == "UP") return {};
  return fail(ErrorCode::kUnavailable, "slurm-unavailable", "slurmctld does not answer slurmrestd's ping");
}

}  // namespace atrium::slurm
