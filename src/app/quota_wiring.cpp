#include "app/quota_wiring.hpp"

#include <cstdio>
#include <cstdlib>

#include <spdlog/spdlog.h>

#include "data/store.hpp"
#include "envs/store.hpp"
#include "envs/store_view.hpp"

namespace atrium::app {

std::unique_ptr<quota::Registry> make_quotas(const jobs::Service& compute, data::Service& data,
                                             images::Service& images) {
  auto quotas = std::make_unique<quota::Registry>();
  auto add = [&quotas](const char* module, std::vector<std::string> kinds, quota::UsageFn f) {
    if (auto st = quotas->add(module, std::move(kinds), std::move(f)); !st) {
      std::fprintf(stderr, "atrium: quotas: %s\n", st.error().detail.c_str());
      std::abort();
    }
  };
  add("jobs", {"concurrent_jobs", "cpu_hours"}, [&compute](db::Tx&, const quota::Subject& s) -> Result<nlohmann::json> {
    return compute.usage(s.org_id, s.kind, s.id);
  });
  // Storage (the registry sums each module's): the data store's files, images, environments' homes.
  add("data", {"storage_bytes"}, [](db::Tx& tx, const quota::Subject& s) -> Result<nlohmann::json> {
    return nlohmann::json{{"storage_bytes", TRY(data::storage_used(tx, s.org_id, s.kind, s.id))}};
  });
  add("images", {"storage_bytes"}, [&images](db::Tx& tx, const quota::Subject& s) -> Result<nlohmann::json> {
    return nlohmann::json{{"storage_bytes", TRY(images.storage_used(tx, s.org_id, s.kind, s.id))}};
  });
  add("envs", {"concurrent_envs", "storage_bytes"}, [](db::Tx& tx, const quota::Subject& s) -> Result<nlohmann::json> {
    return nlohmann::json{{"concurrent_envs", TRY(envs::active_count(tx, s.org_id, s.kind, s.id))},
                          {"storage_bytes", TRY(envs::homes_bytes(tx, s.org_id, s.kind, s.id))}};
  });
  data.set_quotas(quotas.get());
  images.set_quotas(quotas.get());
  return quotas;
}

void audit_quota_refusals(http::Api& api, db::Database& db, const Clock& clock) {
  api.on_quota_refusal([&db, &clock](const Actor& actor, const Error& e, const std::string& route) {
    auto event = quota::refusal_event(e, route);
    auto st = db.write_tx([&](db::Tx& tx) { return audit::record(tx, actor, event, clock.now_ms()); });
    if (!st) spdlog::error("request {}: recording a quota refusal: {}", actor.request_id, st.error().detail);
  });
}

}  // namespace atrium::app
