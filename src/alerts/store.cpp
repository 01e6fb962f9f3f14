#include "alerts/store.hpp"

#include "db/columns.hpp"
#include "db/in_list.hpp"
#include "http/etag.hpp"

namespace atrium::alerts {

std::vector<db::Migration> migrations() {
  return {{1, "alert rules, states, events and deliveries",
           R"SQL(
CREATE TABLE alert_rules (
  id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, figure TEXT NOT NULL, op TEXT NOT NULL,
  threshold REAL NOT NULL, for_s INTEGER NOT NULL, severity TEXT NOT NULL, enabled INTEGER NOT NULL,
  emails TEXT NOT NULL, webhook_url TEXT NOT NULL, webhook_secret TEXT NOT NULL,
  created_ms INTEGER NOT NULL, created_by TEXT NOT NULL, updated_ms INTEGER NOT NULL, updated_by TEXT NOT NULL,
  version INTEGER NOT NULL);
CREATE TABLE alert_states (
  rule_id TEXT PRIMARY KEY, state TEXT NOT NULL, since_ms INTEGER NOT NULL, value REAL,
  updated_ms INTEGER NOT NULL);
CREATE TABLE alert_events (
  id TEXT PRIMARY KEY, rule_id TEXT NOT NULL, rule_name TEXT NOT NULL, kind TEXT NOT NULL,
  figure TEXT NOT NULL, op TEXT NOT NULL, threshold REAL NOT NULL, value REAL, severity TEXT NOT NULL,
  at_ms INTEGER NOT NULL);
CREATE INDEX alert_events_rule ON alert_events (rule_id, id);
CREATE TABLE alert_deliveries (
  event_id TEXT NOT NULL, channel TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL,
  last_error TEXT NOT NULL, task_id TEXT NOT NULL, updated_ms INTEGER NOT NULL,
  PRIMARY KEY (event_id, channel));
)SQL"}};
}

namespace store {
namespace {

using nlohmann::json;

const db::Columns<Rule> kRule{
    db::col<&Rule::id>("id"),
    db::col<&Rule::name>("name"),
    db::col<&Rule::figure>("figure"),
    db::col<&Rule::op>("op"),
    db::col<&Rule::threshold>("threshold"),
    db::col<&Rule::for_s>("for_s"),
    db::col<&Rule::severity>("severity"),
    db::col<&Rule::enabled>("enabled"),
    db::col<&Rule::emails>("emails"),
    db::col<&Rule::webhook_url>("webhook_url"),
    // Only whether there is one: the sealed secret itself is read by sealed_secret() alone.
    db::col<Rule>("webhook_secret",
                  [](Rule& x, const db::Row& r, std::size_t i) -> Status {
                    x.has_webhook_secret = !r.str(i).empty();
                    return {};
                  }),
    db::col<&Rule::created>("created_ms"),
    db::col<&Rule::created_by>("created_by"),
    db::col<&Rule::updated>("updated_ms"),
    db::col<&Rule::updated_by>("updated_by"),
    db::col<&Rule::version>("version"),
};

db::Value opt_double(const std::optional<double>& v) { return v ? db::Value(*v) : db::Value(nullptr); }

const db::Columns<Event> kEvent{
    db::col<&Event::id>("id"),
    db::col<&Event::rule_id>("rule_id"),
    db::col<&Event::rule_name>("rule_name"),
    db::col<&Event::kind>("kind"),
    db::col<&Event::figure>("figure"),
    db::col<&Event::op>("op"),
    db::col<&Event::threshold>("threshold"),
    db::col<&Event::value>("value"),
    db::col<&Event::severity>("severity"),
    db::col<&Event::at>("at_ms"),
};

const db::Columns<Delivery> kDelivery{
    db::col<&Delivery::event_id>("event_id"),
    db::col<&Delivery::channel>("channel"),
    db::col<&Delivery::state>("state"),
    db::col<&Delivery::attempts>("attempts"),
    db::col<&Delivery::last_error>("last_error"),
    db::col<&Delivery::task_id>("task_id"),
    db::col<&Delivery::updated>("updated_ms"),
};

}  // namespace

Result<std::optional<Rule>> find_rule(db::Tx& tx, const std::string& id) {
  auto r = TRY(tx.query_one("SELECT " + kRule.list() + " FROM alert_rules WHERE id = ?", {id}));
  if (!r) return std::optional<Rule>{};
  return std::optional<Rule>{TRY(kRule.read(*r))};
}

Result<std::vector<Rule>> list_rules(db::Tx& tx, const std::string& after, int limit) {
  return kRule.read_all(TRY(tx.query("SELECT " + kRule.list() + " FROM alert_rules WHERE id > ? ORDER BY id LIMIT ?",
                                     {after, static_cast<std::int64_t>(limit)})));
}

Result<std::int64_t> count_rules(db::Tx& tx) {
  auto r = TRY(tx.query_one("SELECT COUNT(*) FROM alert_rules"));
  return r ? r->i64(0) : 0;
}

Result<bool> name_taken(db::Tx& tx, const std::string& name, const std::string& except_id) {
  auto r = TRY(tx.query_one("SELECT 1 FROM alert_rules WHERE name = ? AND id <> ?", {name, except_id}));
  return r.has_value();
}

Status insert_rule(db::Tx& tx, const Rule& r, const std::string& sealed_secret) {
  TRY(tx.exec("INSERT INTO alert_rules (id, name, figure, op, threshold, for_s, severity, enabled, emails, "
              "webhook_url, webhook_secret, created_ms, created_by, updated_ms, updated_by, version) "
              "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
              {r.id, r.name, r.figure, r.op, r.threshold, r.for_s, r.severity, std::int64_t{r.enabled},
               json(r.emails).dump(), r.webhook_url, sealed_secret, r.created, r.created_by, r.updated,
               r.updated_by}));
  return {};
}

Status update_rule(db::Tx& tx, const Rule& r, std::int64_t version, const std::optional<std::string>& sealed_secret) {
  auto n = TRY(tx.exec(
      "UPDATE alert_rules SET name = ?, figure = ?, op = ?, threshold = ?, for_s = ?, severity = ?, enabled = ?, "
      "emails = ?, webhook_url = ?, webhook_secret = COALESCE(?, webhook_secret), updated_ms = ?, updated_by = ?, "
      "version = version + 1 WHERE id = ? AND version = ?",
      {r.name, r.figure, r.op, r.threshold, r.for_s, r.severity, std::int64_t{r.enabled}, json(r.emails).dump(),
       r.webhook_url, db::opt(sealed_secret), r.updated, r.updated_by, r.id, version}));
  if (n == 0) return fail(ErrorCode::kAborted, "concurrent-change", "the rule changed meanwhile; retry");
  return {};
}

Status delete_rule(db::Tx& tx, const std::string& id) {
  TRY(tx.exec("DELETE FROM alert_rules WHERE id = ?", {id}));
  TRY(tx.exec("DELETE FROM alert_states WHERE rule_id = ?", {id}));
  return {};
}

Result<std::string> sealed_secret(db::Tx& tx, const std::string& rule_id) {
  auto r = TRY(tx.query_one("SELECT webhook_secret FROM alert_rules WHERE id = ?", {rule_id}));
  return r ? r->str(0) : std::string();
}

Result<std::map<std::string, RuleState>> states(db::Tx& tx) {
  std::map<std::string, RuleState> out;
  for (auto& r : TRY(tx.query("SELECT rule_id, state, since_ms, value FROM alert_states")))
    out[r.str(0)] = RuleState{
        .state = r.str(1), .since = r.i64(2), .value = r.is_null(3) ? std::nullopt : std::optional<double>(r.f64(3))};
  return out;
}

Status put_state(db::Tx& tx, const std::string& rule_id, const RuleState& s, Millis now) {
  TRY(tx.exec("INSERT INTO alert_states (rule_id, state, since_ms, value, updated_ms) VALUES (?, ?, ?, ?, ?) "
              "ON CONFLICT (rule_id) DO UPDATE SET state = excluded.state, since_ms = excluded.since_ms, "
              "value = excluded.value, updated_ms = excluded.updated_ms",
              {rule_id, s.state, s.since, opt_double(s.value), now}));
  return {};
}

json Event::json() const {
  return {{"id", id},        {"rule_id", rule_id},     {"rule_name", rule_name},
          {"kind", kind},    {"figure", figure},       {"op", op},
          {"threshold", threshold}, {"value", value ? nlohmann::json(*value) : nlohmann::json(nullptr)},
          {"severity", severity},   {"at", format_rfc3339(at)}, {"at_ms", at}};
}

Status insert_event(db::Tx& tx, const Event& e) {
  TRY(tx.exec("INSERT INTO alert_events (" + kEvent.list() + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
              {e.id, e.rule_id, e.rule_name, e.kind, e.figure, e.op, e.threshold, opt_double(e.value), e.severity,
               e.at}));
  return {};
}

Result<std::vector<Event>> list_events(db::Tx& tx, const EventFilter& f) {
  std::string sql = "SELECT " + kEvent.list() + " FROM alert_events WHERE 1 = 1";
  db::Params p;
  if (!f.rule_id.empty()) {
    sql += " AND rule_id = ?";
    p.emplace_back(f.rule_id);
  }
  if (!f.kind.empty()) {
    sql += " AND kind = ?";
    p.emplace_back(f.kind);
  }
  if (!f.before.empty()) {
    sql += " AND id < ?";
    p.emplace_back(f.before);
  }
  sql += " ORDER BY id DESC LIMIT ?";
  p.emplace_back(static_cast<std::int64_t>(f.limit));
  return kEvent.read_all(TRY(tx.query(sql, p)));
}

json Delivery::json() const {
  nlohmann::json j = {{"channel", channel}, {"state", state}, {"attempts", attempts}, {"updated_at", format_rfc3339(updated)}};
  if (!last_error.empty()) j["error"] = last_error;
  return j;
}

Status insert_delivery(db::Tx& tx, const Delivery& d) {
  TRY(tx.exec("INSERT INTO alert_deliveries (event_id, channel, state, attempts, last_error, task_id, updated_ms) "
              "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event_id, channel) DO NOTHING",
              {d.event_id, d.channel, d.state, std::int64_t{d.attempts}, d.last_error, d.task_id, d.updated}));
  return {};
}

Status update_delivery(db::Tx& tx, const Delivery& d) {
  TRY(tx.exec("UPDATE alert_deliveries SET state = ?, attempts = ?, last_error = ?, updated_ms = ? "
              "WHERE event_id = ? AND channel = ?",
              {d.state, std::int64_t{d.attempts}, d.last_error, d.updated, d.event_id, d.channel}));
  return {};
}

Result<std::vector<Delivery>> deliveries(db::Tx& tx, const std::vector<std::string>& event_ids) {
  if (event_ids.empty()) return std::vector<Delivery>{};
  std::string sql = "SELECT " + kDelivery.list() + " FROM alert_deliveries WHERE event_id IN ";
  db::Params p;
  db::append_in(sql, p, event_ids);
  sql += " ORDER BY event_id, channel";
  return kDelivery.read_all(TRY(tx.query(sql, p)));
}

}  // namespace store
}  // namespace atrium::alerts
