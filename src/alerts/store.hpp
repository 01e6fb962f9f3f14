// alerts/'s tables: alert_rules (a rule, its webhook secret sealed), alert_states (where each rule
// stands), alert_events (each firing, resolving and test) and alert_deliveries (each channel's
// outcome per event). The only file with alerts' SQL is store.cpp.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "alerts/alerts.hpp"

namespace atrium::alerts::store {

Result<std::optional<Rule>> find_rule(db::Tx& tx, const std::string& id);
Result<std::vector<Rule>> list_rules(db::Tx& tx, const std::string& after = "", int limit = 1000);
Result<std::int64_t> count_rules(db::Tx& tx);
Result<bool> name_taken(db::Tx& tx, const std::string& name, const std::string& except_id);
// `sealed_secret`: nullopt keeps the stored one (update), "" removes it.
Status insert_rule(db::Tx& tx, const Rule& r, const std::string& sealed_secret);
Status update_rule(db::Tx& tx, const Rule& r, std::int64_t version, const std::optional<std::string>& sealed_secret);
Status delete_rule(db::Tx& tx, const std::string& id);
Result<std::string> sealed_secret(db::Tx& tx, const std::string& rule_id);  // "" = none

Result<std::map<std::string, RuleState>> states(db::Tx& tx);
Status put_state(db::Tx& tx, const std::string& rule_id, const RuleState& s, Millis now);

struct Event {
  std::string id, rule_id, rule_name, kind;  // kind: firing | resolved | test
  std::string figure, op, severity;
  double threshold = 0;
  std::optional<double> value;
  Millis at = 0;
  nlohmann::json json() const;  // without deliveries
};
Status insert_event(db::Tx& tx, const Event& e);
struct EventFilter {
  std::string rule_id, kind;  // "" = any
  std::string before;          // cursor: events older than this id ("" = from the newest)
  int limit = 50;
};
Result<std::vector<Event>> list_events(db::Tx& tx, const EventFilter& f);  // newest first

struct Delivery {
  std::string event_id, channel;  // channel: "email:<address>" | "webhook"
  std::string state;              // queued | delivered | failed
  int attempts = 0;
  std::string last_error, task_id;
  Millis updated = 0;
  nlohmann::json json() const;
};
Status insert_delivery(db::Tx& tx, const Delivery& d);
Status update_delivery(db::Tx& tx, const Delivery& d);
Result<std::vector<Delivery>> deliveries(db::Tx& tx, const std::vector<std::string>& event_ids);

}  // namespace atrium::alerts::store
