#include "slurm/slurm.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>

#include <spdlog/spdlog.h>

#include "slurm/cluster.hpp"
#include "slurm/translate.hpp"

namespace atrium::slurm {

namespace {

Error forbidden(std::string type, std::string detail, std::string field) {
  return std::move(Error(ErrorCode::kPermissionDenied, std::move(type), std::move(detail)).with("field", field));
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');) {
    auto b = item.find_first_not_of(" \t"), e = item.find_last_not_of(" \t");
    if (b != std::string::npos) out.push_back(item.substr(b, e - b + 1));
  }
  return out;
}

}  // namespace

Service::Service(db::Database& db, const Clock& clock, async::Runtime& rt, Settings s, JobsPort jobs)
    : db_(db), clock_(clock), rt_(rt), settings_(std::move(s)), jobs_(std::move(jobs)) {}

Service::~Service() { stop(); }

Status Service::init() {
  for (auto& [name, c] : settings_.config.clusters) {
    RestConfig rc{.url = c.rest_url, .user = c.submit_user};
    if (!c.jwt_key_file.empty()) {
      std::ifstream in(c.jwt_key_file, std::ios::binary);
      std::stringstream buf;
      buf << in.rdbuf();
      if (!in.good() && !in.eof()) return invalid("compute.clusters." + name + ".jwt_key_file: cannot read " + c.jwt_key_file);
      rc.jwt_key = buf.str();
      if (rc.jwt_key.empty()) return invalid("compute.clusters." + name + ".jwt_key_file: " + c.jwt_key_file + " is empty");
    }
    if (c.server_url.starts_with("http://"))
      spdlog::warn("compute.clusters.{}.server_url is plain http: exec tokens, secrets and environment traffic "
                   "cross the nodes' network in clear (use https unless that network is trusted)",
                   name);
    ClusterConfig cc = c;
    if (cc.atrium_path.empty()) cc.atrium_path = settings_.exe;
    clusters_.emplace(name, std::make_unique<Cluster>(*this, name, cc, std::move(rc)));
  }
  return {};
}

Status Service::start() {
  auto rows = TRY(db_.read([](db::Tx& tx) { return store::recent(tx, 100'000); }));
  {
    std::lock_guard lk(mu_);
    for (auto& r : rows) remember_locked(r);
  }
  for (auto& [name, c] : clusters_) c->start();
  return {};
}

void Service::stop() {
  for (auto& [name, c] : clusters_) c->stop();
}

void Service::set_server_port(unsigned short port) {
  std::lock_guard lk(mu_);
  server_port_ = std::to_string(port);
}

void Service::poll_now() {
  for (auto& [name, c] : clusters_) {
    c->tracker_run();
    c->handover_run();
  }
}

// --- partitions ----------------------------------------------------------------------------------

std::optional<jobs::PartitionInfo> Service::partition(const std::string& name) const {
  auto it = settings_.config.partitions.find(name);
  if (it == settings_.config.partitions.end()) return std::nullopt;
  jobs::PartitionInfo p{.name = name, .cluster = it->second.cluster, .slurm_partition = it->second.slurm_partition};
  if (auto c = clusters_.find(p.cluster); c != clusters_.end()) p.limits = c->second->limits(p.slurm_partition);
  return p;
}

std::vector<jobs::PartitionInfo> Service::partitions() const {
  std::vector<jobs::PartitionInfo> out;
  for (auto& [name, p] : settings_.config.partitions) out.push_back(*partition(name));
  return out;
}

Result<bool> Service::usable(db::Tx& tx, const jobs::PartitionInfo& p, const std::string& org_id) const {
  auto pc = settings_.config.partitions.find(p.name);
  if (pc == settings_.config.partitions.end()) return false;
  auto orgs = split_list(pc->second.orgs);
  if (orgs.empty()) return true;
  std::string slug = TRY(jobs_.org_slug(tx, org_id));
  return std::find(orgs.begin(), orgs.end(), slug) != orgs.end();
}

std::optional<std::string> Service::mapped_account(const std::string& cluster, const std::string& slug) const {
  auto c = settings_.config.clusters.find(cluster);
  if (c == settings_.config.clusters.end()) return std::nullopt;
  auto accounts = nlohmann::json::parse(c->second.accounts.empty() ? "{}" : c->second.accounts, nullptr, false);
  if (accounts.is_object() && accounts.contains(slug) && accounts[slug].is_string())
    return accounts[slug].get<std::string>();
  return slug;
}

// --- inside the submission's transaction ----------------------------------------------------------

void Service::requeue_row(JobRow& r, int run) {
  if (r.active() && r.slurm_job_id && !r.old_slurm_job_id)  // still SLURM's: cancelled by the hand-over
    r.old_slurm_job_id = r.array_task_id ? r.task_job_id : r.slurm_job_id;
  r.generation = std::max<std::int64_t>(r.generation + 1, run);
  r.submit_key = r.job_id;
  r.array_task_id.reset();
  r.slurm_job_id.reset();
  r.task_job_id.reset();
  r.state = kQueued;
  r.control.clear();
  r.control_sent = true;
  r.attempts = 0;
  r.next_try_ms = 0;
  r.exec_token_hash.clear();
  r.submitted_ms.reset();
  r.slurm_state.clear();
  r.reason.clear();
  r.nodes.clear();
}

Status Service::submitted(db::Tx& tx, const std::vector<jobs::JobRecord>& recs, const std::string& account) {
  std::vector<JobRow> rows;
  for (auto& rec : recs) {
    auto pc = settings_.config.partitions.find(rec.partition);
    if (pc == settings_.config.partitions.end())
      return fail(std::move(Error(ErrorCode::kInvalidArgument, "unknown-partition",
                                  "no partition '" + rec.partition + "'")
                                .with("field", "partition")));
    std::string slug = TRY(jobs_.org_slug(tx, rec.org_id()));
    auto orgs = split_list(pc->second.orgs);
    if (!orgs.empty() && std::find(orgs.begin(), orgs.end(), slug) == orgs.end())
      return fail(forbidden("partition-forbidden", "the organisation may not use partition '" + rec.partition + "'",
                            "partition"));
    std::string mapped = mapped_account(pc->second.cluster, slug).value_or(slug);
    if (!account.empty() && account != mapped)
      return fail(forbidden("account-forbidden", "the account '" + account + "' is not the organisation's", "account"));
    JobRow r;
    auto existing = TRY(store::get(tx, rec.id()));
    if (existing) {
      // PENDING again after a requeue: a new run directory, so a new SLURM job with its own
      // comment (the next generation); SLURM's old job has ended or is being cancelled.
      r = *existing;
      requeue_row(r, rec.job.requeue_count);
      TRY_STATUS(store::save(tx, r));
      rows.push_back(std::move(r));
      continue;
    }
    r.job_id = rec.id();
    r.submit_key = rec.job.array ? rec.job.array->array_id : rec.id();
    if (rec.job.array) r.array_task_id = rec.job.array->index;
    r.cluster = pc->second.cluster;
    r.partition = rec.partition;
    r.account = mapped;
    r.created_ms = clock_.now_ms();
    TRY_STATUS(store::insert(tx, r));
    rows.push_back(std::move(r));
  }
  tx.on_end([this, rows](bool committed) {
    if (!committed) return;
    std::set<std::string> kicked;
    for (auto& r : rows) {
      remember(r);
      if (kicked.insert(r.cluster).second)
        if (auto c = clusters_.find(r.cluster); c != clusters_.end()) c->second->kick_handover();
    }
  });
  return {};
}

Status Service::control(db::Tx& tx, const jobs::JobRecord& job, jobs::Control c) {
  auto found = TRY(store::get(tx, job.id()));
  if (!found) return {};
  JobRow r = *found;
  if (r.control == "cancel") return {};  // nothing follows a cancel
  switch (c) {
    case jobs::Control::kCancel:
      if (r.state == kEnded) return {};
      r.control = "cancel";
      r.control_sent = r.state == kQueued;  // never handed over: it simply never will be
      if (r.state == kQueued) r.state = kEnded;
      break;
    case jobs::Control::kHold:
    case jobs::Control::kRelease:
      if (r.state == kEnded) return {};
      r.control = c == jobs::Control::kHold ? "hold" : "release";
      r.control_sent = r.state == kQueued;  // the hand-over submits it held (or not)
      break;
    case jobs::Control::kRequeue:
      // The job is PENDING again already, with a new run directory: a new SLURM job with the
      // next generation's comment; the old one is cancelled if SLURM still has it.
      requeue_row(r, job.job.requeue_count);
      break;
  }
  TRY_STATUS(store::save(tx, r));
  tx.on_end([this, r](bool committed) {
    if (!committed) return;
    remember(r);
    if (auto cl = clusters_.find(r.cluster); cl != clusters_.end()) cl->second->kick_handover();
  });
  return {};
}

// --- memory --------------------------------------------------------------------------------------

Status Service::mutate(const std::string& job_id, const std::function<Status(JobRow&)>& fn) {
  return mutate_all({job_id}, fn);
}

Status Service::mutate_all(const std::vector<std::string>& job_ids, const std::function<Status(JobRow&)>& fn) {
  return db_.write_tx([&](db::Tx& tx) -> Status {
    std::vector<JobRow> done;
    for (auto& id : job_ids) {
      auto r = TRY(store::get(tx, id));
      if (!r) return not_found("slurm job row " + id);
      TRY_STATUS(fn(*r));
      TRY_STATUS(store::save(tx, *r));
      done.push_back(std::move(*r));
    }
    tx.on_end([this, done = std::move(done)](bool committed) {
      if (committed)
        for (auto& r : done) remember(r);
    });
    return {};
  });
}

void Service::remember(const JobRow& r) {
  std::lock_guard lk(mu_);
  remember_locked(r);
}

void Service::remember_locked(const JobRow& r) {
  rows_[r.job_id] = r;
  keys_.insert(r.submit_key);
  keys_.insert(r.job_id);
  if (r.active())
    active_.insert(r.job_id);
  else
    active_.erase(r.job_id);
}

std::optional<JobRow> Service::remembered(const std::string& job_id) const {
  std::lock_guard lk(mu_);
  auto it = rows_.find(job_id);
  if (it == rows_.end()) return std::nullopt;
  return it->second;
}

std::vector<JobRow> Service::remembered_active(const std::string& cluster) const {
  std::lock_guard lk(mu_);
  std::vector<JobRow> out;
  for (auto& id : active_)
    if (auto& r = rows_.at(id); r.cluster == cluster) out.push_back(r);
  return out;
}

bool Service::follows(const std::string& cluster) const {
  std::lock_guard lk(mu_);
  return std::ranges::any_of(active_, [&](const std::string& id) { return rows_.at(id).cluster == cluster; });
}

bool Service::knows_key(const std::string& submit_key) const {
  std::lock_guard lk(mu_);
  return keys_.contains(submit_key);
}

nlohmann::json Service::live(const jobs::JobRecord& job) const {
  auto r = remembered(job.id());
  if (!r) return nullptr;
  nlohmann::json j = {{"cluster", r->cluster},
                      {"job_id", nullptr},
                      {"array_job_id", nullptr},
                      {"array_task_id", nullptr},
                      {"nodes", r->nodes},
                      {"state", r->slurm_state.empty() ? nlohmann::json(nullptr) : nlohmann::json(r->slurm_state)},
                      {"reason", r->reason},
                      {"unknown_since", nullptr},
                      {"handed_over", r->slurm_job_id.has_value()}};
  if (r->array_task_id) {
    j["array_job_id"] = r->slurm_job_id ? nlohmann::json(*r->slurm_job_id) : nlohmann::json(nullptr);
    j["array_task_id"] = *r->array_task_id;
    if (r->task_job_id) j["job_id"] = *r->task_job_id;
  } else if (r->slurm_job_id) {
    j["job_id"] = *r->slurm_job_id;
  }
  if (r->active()) {
    auto c = clusters_.find(r->cluster);
    if (c != clusters_.end())
      if (auto since = c->second->unknown_since()) j["unknown_since"] = format_rfc3339(*since);
  }
  return j;
}

std::optional<NodeCounts> Service::nodes() const {
  NodeCounts sum;
  for (auto& [name, c] : clusters_) {
    auto n = c->nodes();
    if (!n) return std::nullopt;
    sum.total += n->total;
    sum.down += n->down;
    sum.drained += n->drained;
  }
  return sum;
}

int Service::unreachable_clusters() const {
  return static_cast<int>(
      std::ranges::count_if(clusters_, [](auto& c) { return c.second->unknown_since().has_value(); }));
}

std::string Service::render_metrics() const {
  std::string out =
      "# HELP atrium_slurm_rpcs_total Requests Atrium made to slurmrestd, by cluster and call.\n"
      "# TYPE atrium_slurm_rpcs_total counter\n";
  for (auto& [name, c] : clusters_) out += c->metrics();
  out += "# HELP atrium_slurm_unreachable Whether the cluster's slurmrestd or slurmctld does not answer now.\n"
         "# TYPE atrium_slurm_unreachable gauge\n";
  for (auto& [name, c] : clusters_)
    out += "atrium_slurm_unreachable{cluster=\"" + name + "\"} " + (c->unknown_since() ? "1" : "0") + "\n";
  out += "# HELP atrium_slurm_nodes The cluster's nodes by condition (up, drained, down) at its last full listing.\n"
         "# TYPE atrium_slurm_nodes gauge\n";
  for (auto& [name, c] : clusters_)
    if (auto n = c->nodes()) {
      auto line = [&](const char* condition, std::int64_t v) {
        out += "atrium_slurm_nodes{cluster=\"" + name + "\",condition=\"" + condition + "\"} " + std::to_string(v) +
               "\n";
      };
      line("up", n->total - n->down - n->drained);
      line("drained", n->drained);
      line("down", n->down);
    }
  return out;
}

}  // namespace atrium::slurm
