// GET /api/v1/jobs/events: server-sent events of job changes. Every write to a job gives it the
// next change sequence number (store.hpp); the stream sends, for each job changed after the
// client's Last-Event-ID, the job as GET /jobs/{id} shows it, with `id:` its change number. It
// waits on the service's change notifier; the database is read on the worker pool.
#include <charconv>

#include "core/async.hpp"
#include "jobs/routes.hpp"
#include "projects/projects.hpp"

namespace atrium::jobs {
namespace {

using http::Access;
using http::Context;
using http::Response;
using nlohmann::json;

constexpr Millis kStreamMax = 600'000;  // then the client reconnects with Last-Event-ID
constexpr Millis kHeartbeat = 15'000;   // a comment line keeps proxies and the client's timer alive
constexpr int kBatch = 100;

class JobEventStream final : public async::Stream {
 public:
  JobEventStream(async::Runtime& rt, db::Database& db, Service& svc, ChangeFilter filter, bool resume)
      : rt_(rt), db_(db), svc_(svc), filter_(std::move(filter)), resume_(resume),
        deadline_(svc.clock().now_ms() + kStreamMax), beat_(svc.clock().now_ms() + kHeartbeat) {}

  async::Task<bool> next(std::string& out) override {
    auto changes = waiter_.wake_on(svc_.changes());
    for (;;) {
      if (cancelled_) co_return true;
      auto version = svc_.changes().version();
      if (first_ || more_ || version != seen_) {
        seen_ = version;
        auto rows = co_await async::on_pool(rt_, [this] { return read(); });
        if (!rows) co_return false;  // the client reconnects and resumes
        if (first_) {
          // Where this stream starts: a client that connected without an id resumes from here.
          out += "retry: 2000\nid: " + std::to_string(filter_.after) + "\nevent: ready\ndata: " +
                 json{{"last_event_id", filter_.after}}.dump() + "\n\n";
          first_ = false;
        }
        more_ = rows->size() == static_cast<std::size_t>(kBatch);
        for (auto& [seq, j] : *rows) out += "id: " + std::to_string(seq) + "\nevent: job\ndata: " + j.dump() + "\n\n";
        if (!rows->empty()) filter_.after = rows->back().first;
        if (!out.empty()) co_return true;
      }
      auto now = svc_.clock().now_ms();
      if (now >= deadline_) co_return false;
      if (now >= beat_) {
        beat_ = now + kHeartbeat;
        out += ": keep-alive\n\n";
        co_return true;
      }
      co_await waiter_.wait(svc_.clock(), std::min(deadline_, beat_));
    }
  }
  void cancel() override {
    cancelled_ = true;
    waiter_.wake();
  }

 private:
  // The jobs changed after filter_.after, as (change number, GET /jobs/{id} shape).
  Result<std::vector<std::pair<std::int64_t, json>>> read() {
    return db_.read([&](db::Tx& tx) -> Result<std::vector<std::pair<std::int64_t, json>>> {
      if (first_ && !resume_) filter_.after = TRY(last_change(tx));
      ChangeFilter f = filter_;
      f.limit = kBatch;
      std::vector<std::pair<std::int64_t, json>> out;
      for (auto& c : TRY(changed_since(tx, f))) out.emplace_back(c.seq, TRY(svc_.detail_json(tx, c.rec)));
      return out;
    });
  }

  async::Runtime& rt_;
  db::Database& db_;
  Service& svc_;
  ChangeFilter filter_;
  bool resume_;
  Millis deadline_, beat_;
  std::uint64_t seen_ = 0;
  bool first_ = true, more_ = false, cancelled_ = false;
  async::Waiter waiter_;
};

// Last-Event-ID (what EventSource sends when it reconnects) or ?after=: a change number.
Result<std::optional<std::int64_t>> resume_point(Context& ctx) {
  const char* field = "Last-Event-ID";
  auto v = ctx.req.header("last-event-id");
  if (!v || v->empty()) {
    field = "after";
    v = ctx.req.query_param("after");
  }
  if (!v || v->empty()) return std::optional<std::int64_t>();
  std::int64_t x = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), x);
  if (ec != std::errc() || p != v->data() + v->size() || x < 0)
    return fail(Error(ErrorCode::kInvalidArgument, "invalid-query",
                      std::string(field) + " must be a change number this stream sent")
                    .with("field", field));
  return std::optional<std::int64_t>(x);
}

Result<Response> job_events(Service& svc, async::Runtime& rt, Context& ctx) {
  ChangeFilter f;
  std::string project(ctx.req.query_param("project").value_or(""));
  if (!project.empty()) {
    // Every job of the project: jobs:read on it (another tenant's project does not exist).
    auto p = TRY(projects::get_for(ctx.t(), project, ctx.who().user_id));
    if (!p) {
      ctx.filtered();
      return not_found("project");
    }
    TRY_STATUS(ctx.authorize(projects::target_of(*p)));
    f.project_id = p->id;
  } else {
    ctx.filtered();  // the caller's own jobs, as GET /api/v1/jobs lists them
    f.user_id = ctx.who().user_id;
  }
  auto after = TRY(resume_point(ctx));
  f.after = after.value_or(0);
  Response r;
  r.status = 200;
  r.content_type = "text/event-stream";
  r.headers.emplace_back("Cache-Control", "no-store");
  r.stream = std::make_shared<JobEventStream>(rt, ctx.db(), svc, f, after.has_value());
  return r;
}

}  // namespace

void add_event_routes(http::Api& api, Service& svc, async::Runtime& rt) {
  api.add({"GET", "/api/v1/jobs/events", Access::require("jobs", "read"),
           {"Server-sent events (text/event-stream) of job changes: my jobs, or every job of ?project=. First an "
            "`event: ready` carrying where the stream starts, then per change `event: job` with the job as GET "
            "/jobs/{id} shows it and `id:` its change number (Last-Event-ID or ?after= resumes after it); a "
            "`: keep-alive` comment every 15 s; the stream ends after 10 minutes (the client reconnects)",
            "jobs", nullptr, nullptr, 200, {"project", "after"}},
           [&svc, &rt](Context& ctx) { return job_events(svc, rt, ctx); }});
}

}  // namespace atrium::jobs
