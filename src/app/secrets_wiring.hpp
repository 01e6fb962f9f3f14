// Secrets (secrets/): sealed with a key derived from the data master key; jobs (and so
// environments) read them at launch; a deleted user's go with the account.
#pragma once

#include "data/blobs.hpp"
#include "http/api.hpp"
#include "identity/routes.hpp"
#include "jobs/service.hpp"

namespace atrium::app {

// Sets js.resolve_secrets: the values of a job's secrets at its launch, from the job owner's and
// the job's project's secrets.
void connect_secrets(jobs::Settings& js, const data::MasterKey& key);
// secrets' routes; deps.forget_user also removes the user's secrets.
void add_secret_routes(http::Api& api, const data::MasterKey& key, identity::RouteDeps& deps);

}  // namespace atrium::app
