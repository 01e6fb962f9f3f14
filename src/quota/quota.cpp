#include "quota/quota.hpp"

#include <algorithm>

#include "audit/audit.hpp"
#include "db/columns.hpp"
#include "http/api.hpp"

namespace atrium::quota {
namespace {

using json = nlohmann::json;

// The limit kinds in the API's order; `counted` ones have a usage that some module counts; `summed`
// ones may be counted by several modules, whose counts add up (storage: data files, images, homes).
struct Kind {
  const char* name;
  std::optional<std::int64_t> Limits::*limit;
  bool counted;
  bool summed = false;
};
constexpr Kind kKinds[] = {{"storage_bytes", &Limits::storage_bytes, true, true},
                           {"cpu_hours", &Limits::cpu_hours, true},
                           {"cpu_period_days", &Limits::cpu_period_days, false},
                           {"concurrent_jobs", &Limits::concurrent_jobs, true},
                           {"concurrent_envs", &Limits::concurrent_envs, true}};

const db::Columns<Quota> kQuota{
    db::col<&Quota::subject, &Subject::org_id>("org_id"),
    db::col<&Quota::subject, &Subject::kind>("subject_kind"),
    db::col<&Quota::subject, &Subject::id>("subject_id"),
    db::col<&Quota::limits, &Limits::storage_bytes>("storage_bytes"),
    db::col<&Quota::limits, &Limits::cpu_hours>("cpu_hours"),
    db::col<&Quota::limits, &Limits::cpu_period_days>("cpu_period_days"),
    db::col<&Quota::limits, &Limits::concurrent_jobs>("concurrent_jobs"),
    db::col<&Quota::limits, &Limits::concurrent_envs>("concurrent_envs"),
    db::col<&Quota::version>("version"),
};

Result<std::optional<Quota>> find(db::Tx& tx, const Subject& s) {
  auto row = TRY(tx.query_one("SELECT " + kQuota.list() + " FROM quotas WHERE org_id = ? AND subject_kind = ? AND subject_id = ?",
                              {s.org_id, s.kind, s.id}));
  if (!row) return std::optional<Quota>{};
  return std::optional<Quota>{TRY(kQuota.read(*row))};
}

json limits_json(const Limits& l) {
  json out = json::object();
  for (const Kind& k : kKinds) out[k.name] = l.*k.limit ? json(*(l.*k.limit)) : json(nullptr);
  return out;
}

Result<json> quota_json(db::Tx& tx, const Registry& reg, const Quota& q) {
  return json{{"org_id", q.subject.org_id},
              {"kind", q.subject.kind},
              {"subject_id", q.subject.id},
              {"limits", limits_json(q.limits)},
              {"usage", TRY(reg.usage(tx, q.subject))},
              {"etag", http::etag_of(q.version)}};
}

}  // namespace

std::vector<db::Migration> migrations() {
  // The table was identity's (its migration 1 made it before this module existed): databases made
  // then have it already.
  return {{1, "quotas", R"SQL(
CREATE TABLE IF NOT EXISTS quotas (
  org_id TEXT NOT NULL REFERENCES orgs(id), subject_kind TEXT NOT NULL, subject_id TEXT NOT NULL,
  storage_bytes INTEGER, cpu_hours INTEGER, cpu_period_days INTEGER, concurrent_jobs INTEGER,
  concurrent_envs INTEGER, updated_ms INTEGER NOT NULL, version INTEGER NOT NULL DEFAULT 1,
  PRIMARY KEY (org_id, subject_kind, subject_id));
)SQL"}};
}

Result<std::optional<Limits>> limits_of(db::Tx& tx, const Subject& s) {
  auto q = TRY(find(tx, s));
  if (!q) return std::optional<Limits>{};
  return std::optional<Limits>{q->limits};
}

Result<std::vector<Quota>> list_all(db::Tx& tx) {
  return kQuota.read_all(
      TRY(tx.query("SELECT " + kQuota.list() + " FROM quotas ORDER BY org_id, subject_kind, subject_id")));
}

Result<std::int64_t> change_stamp(db::Tx& tx) {
  auto row = TRY(tx.query_one("SELECT COALESCE(SUM(version), 0) + COUNT(*) * 1000003 FROM quotas"));
  return row->i64(0);
}

Status remove_org(db::Tx& tx, const std::string& org_id) {
  TRY(tx.exec("DELETE FROM quotas WHERE org_id = ?", {org_id}));
  return {};
}

Status remove_subject(db::Tx& tx, std::string_view kind, const std::string& id) {
  TRY(tx.exec("DELETE FROM quotas WHERE subject_kind = ? AND subject_id = ?", {std::string(kind), id}));
  return {};
}

Status Registry::add(std::string module, std::vector<std::string> kinds, UsageFn usage) {
  for (const auto& k : kinds) {
    auto known = std::find_if(std::begin(kKinds), std::end(kKinds), [&](const Kind& x) { return x.name == k; });
    if (known == std::end(kKinds) || !known->counted)
      return invalid(module + " registers an unknown quota kind " + k);
    for (const auto& e : entries_)
      if (!known->summed && std::find(e.kinds.begin(), e.kinds.end(), k) != e.kinds.end())
        return invalid(module + " registers the quota kind " + k + ", which " + e.module + " counts");
  }
  entries_.push_back({std::move(module), std::move(kinds), std::move(usage)});
  return {};
}

Result<json> Registry::usage(db::Tx& tx, const Subject& s) const {
  json out = json::object();
  for (const Kind& k : kKinds)
    if (k.counted) out[k.name] = 0;
  for (const auto& e : entries_) {
    json mine = TRY(e.usage(tx, s));
    for (const auto& k : e.kinds) {
      if (!mine.contains(k) || !mine[k].is_number()) continue;
      // Counts stay integers; CPU-hours are fractional (each kind starts at 0 above).
      if (out[k].is_number_integer() && mine[k].is_number_integer())
        out[k] = out[k].get<std::int64_t>() + mine[k].get<std::int64_t>();
      else
        out[k] = out[k].get<double>() + mine[k].get<double>();
    }
    for (auto it = mine.begin(); it != mine.end(); ++it)
      if (!out.contains(it.key())) out[it.key()] = it.value();
  }
  return out;
}

Status check_storage(db::Tx& tx, const Registry& reg, const std::string& org_id, const std::string& group_id,
                     const std::string& user_id, std::int64_t bytes) {
  struct Owner {
    const char* kind;
    std::string id;
  };
  for (const Owner& o : {Owner{"org", org_id}, Owner{"group", group_id}, Owner{"user", user_id}}) {
    if (o.id.empty()) continue;
    auto l = TRY(limits_of(tx, {org_id, o.kind, o.id}));
    if (!l || !l->storage_bytes) continue;
    std::int64_t limit = *l->storage_bytes;
    std::int64_t used = TRY(reg.usage(tx, {org_id, o.kind, o.id})).value("storage_bytes", std::int64_t{0});
    if (used + bytes > limit)
      return fail(Error(ErrorCode::kQuotaExceeded, "quota-exceeded",
                        std::string("the ") + o.kind + " storage quota would be exceeded: " + std::to_string(used) +
                            " of " + std::to_string(limit) + " bytes used, " + std::to_string(bytes) + " more asked")
                      .with("limit", "storage_bytes")
                      .with("org_id", org_id)
                      .with("kind", o.kind)
                      .with("subject_id", o.id)
                      .with("max", limit)
                      .with("used", used)
                      .with("requested", bytes));
  }
  return {};
}

audit::Event refusal_event(const Error& e, const std::string& route) {
  auto str = [&](const char* k) { return e.extra.contains(k) && e.extra[k].is_string() ? e.extra[k].get<std::string>() : ""; };
  json summary = {{"detail", e.detail}, {"route", route}};
  for (const char* k : {"limit", "max", "used", "requested"})
    if (e.extra.contains(k)) summary[k] = e.extra[k];
  std::string kind = str("kind");
  return {str("org_id"), "quota.exceeded", kind.empty() ? "quota" : kind, str("subject_id"), std::move(summary)};
}

Result<json> get_json(db::Tx& tx, const Registry& reg, const Subject& s) {
  auto q = TRY(find(tx, s));
  return quota_json(tx, reg, q ? *q : Quota{s, {}, 0});
}

Result<json> list_json(db::Tx& tx, const Registry& reg, const std::string& org_id) {
  auto rows = TRY(tx.query("SELECT " + kQuota.list() + " FROM quotas WHERE org_id = ? ORDER BY subject_kind, subject_id",
                           {org_id}));
  json items = json::array();
  bool has_org = false;
  for (const auto& r : rows) {
    auto q = TRY(kQuota.read(r));
    has_org = has_org || q.subject.kind == "org";
    items.push_back(TRY(quota_json(tx, reg, q)));
  }
  if (!has_org) items.insert(items.begin(), TRY(quota_json(tx, reg, Quota{{org_id, "org", org_id}, {}, 0})));
  return items;
}

Result<json> put(db::Tx& tx, const Registry& reg, const Actor& actor, const Subject& s, const Limits& l, Millis now) {
  TRY(tx.exec("INSERT INTO quotas (org_id, subject_kind, subject_id, storage_bytes, cpu_hours, cpu_period_days, "
              "concurrent_jobs, concurrent_envs, updated_ms, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1) "
              "ON CONFLICT (org_id, subject_kind, subject_id) DO UPDATE SET storage_bytes = excluded.storage_bytes, "
              "cpu_hours = excluded.cpu_hours, cpu_period_days = excluded.cpu_period_days, "
              "concurrent_jobs = excluded.concurrent_jobs, concurrent_envs = excluded.concurrent_envs, "
              "updated_ms = excluded.updated_ms, version = quotas.version + 1",
              {s.org_id, s.kind, s.id, db::opt(l.storage_bytes), db::opt(l.cpu_hours), db::opt(l.cpu_period_days),
               db::opt(l.concurrent_jobs), db::opt(l.concurrent_envs), now}));
  auto j = TRY(get_json(tx, reg, s));
  TRY_STATUS(audit::record(tx, actor, {s.org_id, "quota.set", s.kind, s.id, j["limits"]}, now));
  return j;
}

}  // namespace atrium::quota
