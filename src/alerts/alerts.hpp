// Alerts as data: rules on the server's health figures (obs::Health), evaluated after each sample,
// each firing and resolving recorded as an event (and audited) and delivered by mail and webhook.
//
// A rule: figure op threshold held for `for_s` seconds -> firing; the condition gone -> resolved.
// States ok -> pending (the condition holds, not yet for `for_s`) -> firing -> ok. A figure absent
// from a sample (unknown that time) changes nothing. A disabled rule that was firing resolves.
// Delivery is durable and off the evaluator: mail through src/mail (a "mail.send" task per
// address), webhooks through an "alerts.webhook" task (POST JSON, signed with the rule's secret:
// `X-Atrium-Signature: sha256=<hex HMAC-SHA256 of the body>`, retried, its outcome kept with the
// event). See docs/alerts.md.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/clock.hpp"
#include "core/error.hpp"
#include "db/database.hpp"
#include "obs/health.hpp"
#include "tasks/tasks.hpp"

namespace atrium::http {
class Api;
}

namespace atrium::alerts {

std::vector<db::Migration> migrations();

inline constexpr std::size_t kMaxRules = 200;
inline constexpr std::size_t kMaxEmails = 20;
inline constexpr std::int64_t kMaxForSeconds = 7 * 24 * 3600;

struct Rule {
  std::string id, name;
  std::string figure;   // a name from Health::figures()
  std::string op;       // "<" | ">"
  double threshold = 0;
  std::int64_t for_s = 0;          // how long the condition must hold before it fires
  std::string severity = "warning";  // info | warning | critical
  bool enabled = true;
  std::vector<std::string> emails;
  std::string webhook_url;         // "" = none
  bool has_webhook_secret = false;  // the secret itself never leaves the store but sealed
  Millis created = 0, updated = 0;
  std::string created_by, updated_by;
  std::int64_t version = 1;

  bool holds(double value) const { return op == "<" ? value < threshold : value > threshold; }
  nlohmann::json json() const;  // with "etag"; never the secret
};

// Where a rule stands (kept per rule; not part of its version).
struct RuleState {
  std::string state = "ok";  // ok | pending | firing
  Millis since = 0;          // when the condition began to hold (pending, firing); when it resolved (ok)
  std::optional<double> value;  // the figure's value at the last change
};

// One step of a rule on a sample: the next state, and the event it makes ("firing" | "resolved"),
// if any. Pure: the evaluator and the unit tests share it.
struct Step {
  RuleState next;
  std::string event;  // "" = none
  bool changed = false;
};
Step step(const Rule& r, const RuleState& cur, const obs::Sample& s);

// Checks a rule's fields as the API takes them, each failure naming its `field`. `figures`: the
// names Health knows; `own_origin`: the server's public URL (a webhook must not point at it).
Status check_rule(const Rule& r, const std::vector<std::string>& figures, const std::string& own_origin);

struct Settings {
  std::string key;  // 32 bytes (derived from the data master key): seals webhook secrets
  std::function<std::string()> public_url;  // links in mails and webhooks; the own-origin check
  Millis webhook_timeout_ms = 10'000;
  int webhook_attempts = 6;  // retried by the task queue with its back-off
};

// The evaluator and delivery. One per server; evaluate() runs on the worker pool.
class Service {
 public:
  Service(db::Database& db, const Clock& clock, Settings s,
          std::function<std::vector<obs::Figure>()> figures);

  // Evaluates every rule on `s` (a sample already evaluated, by time, is skipped). Errors are
  // logged by the caller; evaluation never waits on delivery.
  Status evaluate(const obs::Sample& s);
  // Registers "alerts.webhook" with the task queue (before it starts).
  void add_tasks(tasks::Queue& q);

  std::vector<obs::Figure> figures() const { return figures_(); }
  std::optional<obs::Sample> last_sample() const;
  const Settings& settings() const { return s_; }
  db::Database& db() { return db_; }

  // For the routes: seal a new webhook secret; queue the deliveries of an event (in `tx`).
  std::string seal_secret(const std::string& rule_id, const std::string& secret) const;
  std::optional<std::string> open_secret(const std::string& rule_id, const std::string& sealed) const;
  Status deliver(db::Tx& tx, const Rule& r, const nlohmann::json& event, Millis now);

  // The webhook POST itself (blocking; on the pool): the body signed with `secret`.
  Status post_webhook(const std::string& url, const std::string& secret, const std::string& body) const;

 private:
  Status run_webhook(const tasks::Task& t);
  db::Database& db_;
  const Clock& clock_;
  Settings s_;
  std::function<std::vector<obs::Figure>()> figures_;
  mutable std::mutex mu_;
  std::optional<obs::Sample> last_;  // GUARDED_BY(mu_)
};

// The header value of a body signed with `secret`: "sha256=<hex HMAC-SHA256>".
std::string signature(const std::string& secret, const std::string& body);

// /api/v1/admin/alerts/... (instance admins only).
void add_routes(http::Api& api, Service& svc);

}  // namespace atrium::alerts
