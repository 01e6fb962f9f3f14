#include "app/health_wiring.hpp"

#include <charconv>

#include <spdlog/spdlog.h>

namespace atrium::app {
namespace {

using http::Context;
using http::Response;
using nlohmann::json;

Result<Response> get_health(const obs::Health& h, Context& ctx) {
  TRY_STATUS(ctx.authorize(http::Target{}));  // instance administrators only
  Millis since = 0;
  if (auto v = ctx.req.query_param("since")) {
    auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), since);
    if (ec != std::errc{} || end != v->data() + v->size() || since < 0)
      return fail(Error(ErrorCode::kInvalidArgument, "invalid-query",
                        "since must be a time in milliseconds since the epoch (0 or more)")
                      .with("field", "since"));
  }
  json figures = json::array();
  for (auto& f : h.figures()) figures.push_back({{"name", f.name}, {"unit", f.unit}, {"help", f.help}});
  json samples = json::array();
  for (auto& s : h.since(since)) samples.push_back({{"t", s.at}, {"values", s.values}});
  return Response::json(200, {{"period_ms", h.period_ms()},
                              {"now", ctx.now()},
                              {"figures", std::move(figures)},
                              {"samples", std::move(samples)}});
}

json health_schema() {
  json figure = {{"type", "object"},
                 {"properties", {{"name", {{"type", "string"}}}, {"unit", {{"type", "string"}}}, {"help", {{"type", "string"}}}}}};
  json sample = {{"type", "object"},
                 {"properties",
                  {{"t", {{"type", "integer"}}},
                   {"values", {{"type", "object"}, {"additionalProperties", {{"type", "number"}}}}}}}};
  return {{"type", "object"},
          {"properties",
           {{"period_ms", {{"type", "integer"}}},
            {"now", {{"type", "integer"}}},
            {"figures", {{"type", "array"}, {"items", figure}}},
            {"samples", {{"type", "array"}, {"items", sample}}}}}};
}

}  // namespace

HealthWiring::HealthWiring(const Settings& c, obs::Metrics& metrics, const Clock& clock, async::Runtime& rt,
                           http::Api& api)
    : health_(metrics, clock, c.server.data_dir, c.health.period_ms, obs::hour_of_samples(c.health.period_ms)),
      timer_(rt, clock, c.health.period_ms, [this] {
        try {
          health_.sample();
        } catch (const std::exception& e) {  // a listener's failure must not end the sampling
          spdlog::error("health: sampling: {}", e.what());
        }
        return Millis{0};
      }) {
  metrics.add_source([this] { return health_.render(); });
  api.add({"GET", "/api/v1/admin/health", http::Access::require("audit", "admin"),  // instance administrators
           {.summary = "The server's health figures over the last hour (samples taken after `since`, ms since the "
                       "epoch; all kept without it), one sample every period_ms",
            .tag = "ops",
            .request = nullptr,
            .response = health_schema(),
            .query = {"since"}},
           [this](Context& ctx) { return get_health(health_, ctx); },
           http::TxMode::kNone});
}

}  // namespace atrium::app
