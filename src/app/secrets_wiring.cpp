#include "app/secrets_wiring.hpp"

#include "secrets/secrets.hpp"

namespace atrium::app {

void connect_secrets(jobs::Settings& js, const data::MasterKey& key) {
  js.resolve_secrets = [k = key.derive("secrets")](db::Tx& tx, const jobs::JobRecord& job,
                                                   const std::vector<secrets::Request>& wanted) {
    return secrets::resolve(tx, k, job.user_id(), job.project_id, wanted);
  };
}

void add_secret_routes(http::Api& api, const data::MasterKey& key, identity::RouteDeps& deps) {
  secrets::add_routes(api, {.key = key.derive("secrets")});
  deps.forget_user = [before = deps.forget_user](db::Tx& tx, const Actor& actor, const std::string& user_id,
                                                 Millis now) -> Status {
    if (before) TRY_STATUS(before(tx, actor, user_id, now));
    return secrets::forget_user(tx, user_id);
  };
}

}  // namespace atrium::app
