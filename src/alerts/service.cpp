// The evaluator (after each health sample) and the deliveries it queues.
#include <spdlog/spdlog.h>

#include "alerts/alerts.hpp"
#include "alerts/store.hpp"
#include "audit/audit.hpp"
#include "core/crypto.hpp"
#include "core/ids.hpp"
#include "mail/mail.hpp"

namespace atrium::alerts {
namespace {

using nlohmann::json;

constexpr const char* kWebhookKind = "alerts.webhook";

std::string secret_ad(const std::string& rule_id) { return "atrium alert webhook secret v1 " + rule_id; }

std::string format_value(const std::optional<double>& v) {
  if (!v) return "unknown";
  return fmt::format("{:g}", *v);
}

// The rest of a delivery that failed for good, or will be retried.
store::Delivery failed_delivery(const tasks::Task& t, const std::string& error, bool last, Millis now) {
  return store::Delivery{.event_id = t.payload.value("event_id", ""),
                         .channel = "webhook",
                         .state = last ? "failed" : "queued",
                         .attempts = t.attempt,
                         .last_error = error,
                         .updated = now};
}

}  // namespace

Service::Service(db::Database& db, const Clock& clock, Settings s, std::function<std::vector<obs::Figure>()> figures)
    : db_(db), clock_(clock), s_(std::move(s)), figures_(std::move(figures)) {
  if (!s_.key.empty()) s_.key = crypto::hmac_sha256(s_.key, "atrium alerts: webhook secrets v1");
}

std::optional<obs::Sample> Service::last_sample() const {
  std::lock_guard lock(mu_);
  return last_;
}

std::string Service::seal_secret(const std::string& rule_id, const std::string& secret) const {
  if (s_.key.size() != crypto::kAeadKeyBytes) return "plain:" + secret;  // tests without a key
  return crypto::base64(crypto::aead_seal(s_.key, secret, secret_ad(rule_id)));
}

std::optional<std::string> Service::open_secret(const std::string& rule_id, const std::string& sealed) const {
  if (sealed.starts_with("plain:")) return sealed.substr(6);
  auto raw = crypto::base64_decode(sealed);
  if (!raw || s_.key.size() != crypto::kAeadKeyBytes) return std::nullopt;
  return crypto::aead_open(s_.key, *raw, secret_ad(rule_id));
}

Status Service::evaluate(const obs::Sample& sample) {
  {
    std::lock_guard lock(mu_);
    if (last_ && sample.at <= last_->at) return {};
    last_ = sample;
  }
  // Most samples change nothing: look first in a read transaction, write only when something moves.
  auto changes = [&](db::Tx& tx) -> Result<bool> {
    auto states = TRY(store::states(tx));
    for (auto& r : TRY(store::list_rules(tx)))
      if (step(r, states[r.id], sample).changed) return true;
    return false;
  };
  if (!TRY(db_.read(changes))) return {};
  Millis now = clock_.now_ms();
  return db_.write_tx([&](db::Tx& tx) -> Status {
    auto states = TRY(store::states(tx));
    for (auto& r : TRY(store::list_rules(tx))) {
      Step st = step(r, states[r.id], sample);
      if (!st.changed) continue;
      TRY_STATUS(store::put_state(tx, r.id, st.next, now));
      if (st.event.empty()) continue;
      store::Event e{.id = new_id("alev", now),
                     .rule_id = r.id,
                     .rule_name = r.name,
                     .kind = st.event,
                     .figure = r.figure,
                     .op = r.op,
                     .severity = r.severity,
                     .threshold = r.threshold,
                     .value = st.next.value,
                     .at = sample.at};
      TRY_STATUS(store::insert_event(tx, e));
      Actor system{.username = "system", .request_id = "alerts"};
      TRY_STATUS(audit::record(tx, system,
                               {"", "alert." + e.kind, "alert_rule", r.id,
                                {{"name", r.name}, {"event_id", e.id}, {"figure", r.figure}, {"op", r.op},
                                 {"threshold", r.threshold}, {"value", e.value ? json(*e.value) : json(nullptr)},
                                 {"severity", r.severity}}},
                               now));
      TRY_STATUS(deliver(tx, r, e.json(), now));
      spdlog::info("alert {} ({}): {} {} {} {}, value {}", e.kind, r.name, r.figure, r.op, r.threshold,
                   r.severity, format_value(e.value));
    }
    return {};
  });
}

Status Service::deliver(db::Tx& tx, const Rule& r, const json& event, Millis now) {
  const std::string event_id = event.value("id", "");
  std::optional<double> value;
  if (event.contains("value") && event["value"].is_number()) value = event["value"].get<double>();
  json vars = {{"rule_name", r.name},        {"kind", event.value("kind", "")},
               {"figure", r.figure},         {"op", r.op},
               {"threshold", fmt::format("{:g}", r.threshold)},
               {"value", format_value(value)}, {"severity", r.severity},
               {"at", event.value("at", "")},  {"link", "/admin/alerts"}};
  for (const auto& to : r.emails) {
    store::Delivery d{.event_id = event_id, .channel = "email:" + to, .state = "queued", .updated = now};
    auto task = mail::enqueue(tx, {.to = to, .template_name = "alert", .vars = vars, .key = "alert:" + event_id + ":" + to},
                              now);
    if (!task) {
      d.state = "failed";
      d.last_error = task.error().detail;
    } else if (task->empty()) {
      d.state = "failed";
      d.last_error = "mail is not configured ([mail] smtp_url)";
    } else {
      d.task_id = *task;
    }
    TRY_STATUS(store::insert_delivery(tx, d));
  }
  if (r.webhook_url.empty()) return {};
  std::string site = s_.public_url ? s_.public_url() : std::string();
  json body = {{"event", event},
               {"rule", {{"id", r.id}, {"name", r.name}, {"figure", r.figure}, {"op", r.op},
                         {"threshold", r.threshold}, {"for_s", r.for_s}, {"severity", r.severity}}},
               {"link", site + "/admin/alerts"}};
  auto task = TRY(tasks::enqueue(tx,
                                 {.kind = kWebhookKind,
                                  .key = "alert-webhook:" + event_id,
                                  .payload = {{"event_id", event_id}, {"rule_id", r.id}, {"url", r.webhook_url},
                                              {"body", body.dump()}},
                                  .max_attempts = std::max(1, s_.webhook_attempts)},
                                 now));
  return store::insert_delivery(
      tx, {.event_id = event_id, .channel = "webhook", .state = "queued", .task_id = task, .updated = now});
}

void Service::add_tasks(tasks::Queue& q) {
  q.handle(kWebhookKind, [this](const tasks::Task& t) { return run_webhook(t); });
}

// One attempt; its outcome kept with the event. A failure is returned for the queue to retry
// (transient) or to give up on (permanent), and never reaches the evaluator.
Status Service::run_webhook(const tasks::Task& t) {
  const std::string rule_id = t.payload.value("rule_id", ""), url = t.payload.value("url", "");
  const std::string body = t.payload.value("body", "");
  auto sealed = TRY(db_.read([&](db::Tx& tx) { return store::sealed_secret(tx, rule_id); }));
  std::optional<std::string> secret = sealed.empty() ? std::nullopt : open_secret(rule_id, sealed);
  Status sent = secret ? post_webhook(url, *secret, body)
                       : Status(fail(ErrorCode::kFailedPrecondition, "webhook-no-secret",
                                     "the rule was deleted or its webhook secret cannot be opened"));
  Millis now = clock_.now_ms();
  if (sent) {
    TRY_STATUS(db_.write_tx([&](db::Tx& tx) {
      store::Delivery d = failed_delivery(t, "", false, now);
      d.state = "delivered";
      return store::update_delivery(tx, d);
    }));
    return {};
  }
  bool transient = sent.error().code == ErrorCode::kUnavailable;
  bool last = !transient || t.attempt >= t.max_attempts;
  TRY_STATUS(db_.write_tx(
      [&](db::Tx& tx) { return store::update_delivery(tx, failed_delivery(t, sent.error().detail, last, now)); }));
  spdlog::warn("alerts: webhook for event {} failed (attempt {} of {}): {}", t.payload.value("event_id", ""),
               t.attempt, t.max_attempts, sent.error().detail);
  return sent;
}

}  // namespace atrium::alerts
