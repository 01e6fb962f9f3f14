// Quotas (quota/): each module that counts something a quota limits registers its kinds and how
// it counts them; storage_bytes is summed over data files, environment homes and images, and the
// modules whose checks must see that sum (data, images) get the registry.
#pragma once

#include <memory>

#include "data/service.hpp"
#include "http/api.hpp"
#include "images/images.hpp"
#include "jobs/service.hpp"
#include "quota/quota.hpp"

namespace atrium::app {

// The registry (it must outlive the data and image services, which keep a pointer to it). A
// module registering a kind twice is a programming error: it aborts at startup.
std::unique_ptr<quota::Registry> make_quotas(const jobs::Service& compute, data::Service& data,
                                             images::Service& images);

// Records each request a signed-in caller made that a quota refused as an audit event
// (quota.exceeded, quota::refusal_event) in a transaction of its own: the refused request's
// transaction rolled back with everything it did. One small write per refusal; anonymous callers
// never reach a quota check, and Api calls this only for authenticated ones.
void audit_quota_refusals(http::Api& api, db::Database& db, const Clock& clock);

}  // namespace atrium::app
