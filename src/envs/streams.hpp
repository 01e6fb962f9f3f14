// Server-sent event streams of environments (the routes' private header): one environment's
// state changes (GET /envs/{id}/events?follow=true), and every change to the environments a
// filter selects (GET /envs/events: the caller's own, or a project's). Both wait on the
// service's changes() and read on the worker pool, never on the I/O thread.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>
#include <map>
#include <memory>
#include <string>

#include "core/async.hpp"
#include "db/database.hpp"
#include "envs/service.hpp"
#include "envs/store.hpp"

namespace atrium::envs {

// How long one stream follows at most (a browser's EventSource reconnects, and is checked again).
inline constexpr Millis kFollowMax = 600'000;

// Each env_events row of environment `id` after `after`, as committed, until it ends.
std::shared_ptr<async::Stream> event_stream(async::Runtime& rt, db::Database& db, Service& svc, std::string id,
                                            std::int64_t after);

// The environments `filter` selects (active_only is implied): each active one first, then each
// one whose record changed (its JSON, event "env"), including its last change when it ends.
std::shared_ptr<async::Stream> list_stream(async::Runtime& rt, db::Database& db, Service& svc, ListFilter filter);

// The state a list stream keeps between reads: which environments it follows, at which version.
// `active` is the filter's active environments now; `ended(id)` reads one that left the set.
// Returns the records to send (new, changed, or ended since the last call).
class ListTracker {
 public:
  std::vector<EnvRecord> update(const std::vector<EnvRecord>& active,
                                const std::function<std::optional<EnvRecord>(const std::string&)>& ended);

 private:
  std::map<std::string, std::string> known_;  // id -> the version and reason last sent
};

}  // namespace atrium::envs
