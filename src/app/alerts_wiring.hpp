// Alerts (alerts/): its tables, its routes, its webhook task, the gauges it needs that Health
// lacks (the job queue's), and its evaluator as a listener of every health sample.
#pragma once

#include <memory>
#include <string>

#include "alerts/alerts.hpp"
#include "data/blobs.hpp"
#include "http/api.hpp"
#include "obs/health.hpp"
#include "tasks/tasks.hpp"

namespace atrium::app {

// Before the task queue and the health timer start. `public_url`: read when mails, webhooks and
// the own-origin check need it (it is set once the server is bound). A failed migration stops
// startup with the reason.
std::unique_ptr<alerts::Service> add_alerts(db::Database& db, const Clock& clock, http::Api& api, obs::Health& health,
                                            tasks::Queue& queue, const data::MasterKey& key,
                                            const std::string& public_url);

}  // namespace atrium::app
