// The exec channel: a node reaches this server with the job-scoped token the hand-over wrote into
// the run directory (RUN/exec.token, root's, 0600). Only that token opens these routes, only for
// that job, only while it is not terminal; anything else answers 404 (nothing about existence).
#include <spdlog/spdlog.h>

#include "core/crypto.hpp"
#include "slurm/slurm.hpp"

namespace atrium::slurm {

namespace {

Error unknown() { return Error(ErrorCode::kNotFound, "not-found", "not found"); }

}  // namespace

Result<jobs::JobRecord> Service::verify_exec_token(const std::string& job_id, const std::string& token) {
  auto row = TRY(db_.read([&](db::Tx& tx) { return store::get(tx, job_id); }));
  // Compared as SHA-256 hex of equal length, in constant time; a job without a token compares
  // against a hash no token has, so the answer takes the same time.
  std::string want = row && !row->exec_token_hash.empty() ? row->exec_token_hash : std::string(64, 'x');
  bool ok = crypto::constant_time_equal(crypto::sha256_hex(token), want);
  if (!ok || !row || token.empty() || !row->active()) return fail(unknown());
  // A run being stopped (cancel, requeue: the requeued job's next run gets a token of its own)
  // starts nothing more: its token is dead from the request's commit on.
  if (row->control == "cancel" || row->control == "requeue") return fail(unknown());
  auto rec = TRY(jobs_.get(job_id));
  if (!rec || compute::is_terminal(rec->job.state)) return fail(unknown());
  return std::move(*rec);
}

Result<std::string> Service::secrets_payload(const std::string& job_id) {
  auto values = TRY(jobs_.secrets(job_id));
  nlohmann::json env = nlohmann::json::object(), files = nlohmann::json::object();
  for (auto& v : values) (v.request.as == "file" ? files : env)[v.request.name] = v.value;
  std::string out = nlohmann::json{{"env", env}, {"files", files}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  for (auto& v : values) std::fill(v.value.begin(), v.value.end(), '\0');
  return out;
}

void add_routes(http::Api& api, Service& s) {
  using http::Access;
  using http::Context;
  using http::Response;
  // No session, no API token: the route authenticates the exec token itself (Access::open with
  // its own check, before anything else is read).
  api.add({"GET",
           "/api/v1/exec/jobs/{id}/secrets",
           Access::open(),
           {"A remote job's secrets at its launch (the node's `atrium exec-secrets`; bearer exec token only)",
            "exec",
            nullptr,
            {{"type", "object"},
             {"properties", {{"env", {{"type", "object"}}}, {"files", {{"type", "object"}}}}}}},
           [&s](Context& ctx) -> Result<Response> {
             auto auth = ctx.req.header("authorization");
             if (!auth || !auth->starts_with("Bearer ")) return fail(unknown());
             std::string token(auth->substr(7));
             const std::string& id = ctx.param("id");
             TRY(s.verify_exec_token(id, token));
             auto payload = s.secrets_payload(id);
             if (!payload) {
               spdlog::warn("exec channel: secrets of job {}: {}", id, payload.error().detail);
               return fail(Error(ErrorCode::kFailedPrecondition, "secret-missing", payload.error().detail));
             }
             Response r = Response::text(200, std::move(*payload), "application/json");
             r.header("Cache-Control", "no-store");
             return r;
           },
           http::TxMode::kNone});
}

}  // namespace atrium::slurm
