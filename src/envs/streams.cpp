#include "envs/streams.hpp"

#include <functional>
#include <optional>
#include <utility>

namespace atrium::envs {

namespace {

using nlohmann::json;

// A follower's loop: read (on the pool) whenever the service's changes move, until `read` says
// the stream ended, the deadline passes or the client goes.
class Follower : public async::Stream {
 public:
  Follower(async::Runtime& rt, Service& svc) : rt_(rt), svc_(svc), deadline_(svc.clock().now_ms() + kFollowMax) {}
  async::Task<bool> next(std::string& out) override {
    auto changes = waiter_.wake_on(svc_.changes());
    for (;;) {
      if (ended_) co_return false;
      if (cancelled_) co_return true;
      auto version = svc_.changes().version();
      if (first_ || version != seen_) {
        first_ = false;
        seen_ = version;
        auto more = co_await async::on_pool(rt_, [this] { return read(); });
        if (!more) co_return false;
        out += *more;
        if (!out.empty()) co_return true;
        if (ended_) co_return false;
      }
      if (svc_.clock().now_ms() >= deadline_) co_return false;
      co_await waiter_.wait(svc_.clock(), deadline_);
    }
  }
  void cancel() override {
    cancelled_ = true;
    waiter_.wake();
  }

 protected:
  // The events to send ("" = none yet); nullopt: the stream ends now. Sets ended_ when this is the last.
  virtual std::optional<std::string> read() = 0;

  async::Runtime& rt_;
  Service& svc_;
  bool ended_ = false;

 private:
  Millis deadline_;
  std::uint64_t seen_ = 0;
  bool first_ = true, cancelled_ = false;
  async::Waiter waiter_;
};

class EventStream final : public Follower {
 public:
  EventStream(async::Runtime& rt, db::Database& db, Service& svc, std::string id, std::int64_t after)
      : Follower(rt, svc), db_(db), id_(std::move(id)), seq_(after) {}

 private:
  std::optional<std::string> read() override {
    auto rows = db_.read([&](db::Tx& tx) { return env_events(tx, id_, seq_); });
    auto env = db_.read([&](db::Tx& tx) { return get_env(tx, id_); });
    if (!rows || !env || !*env) return std::nullopt;
    std::string out;
    for (auto& ev : *rows) {
      seq_ = ev["seq"].get<std::int64_t>();
      out += "id: " + std::to_string(seq_) + "\nevent: " + ev["event"].get<std::string>() + "\ndata: " + ev.dump() +
             "\n\n";
    }
    ended_ = !(*env)->active();
    return out;
  }

  db::Database& db_;
  std::string id_;
  std::int64_t seq_;
};

class ListStream final : public Follower {
 public:
  ListStream(async::Runtime& rt, db::Database& db, Service& svc, ListFilter f)
      : Follower(rt, svc), db_(db), filter_(std::move(f)) {
    filter_.active_only = true;
    filter_.limit = 1000;
  }

 private:
  std::optional<std::string> read() override {
    auto active = db_.read([&](db::Tx& tx) { return list_envs(tx, filter_); });
    if (!active) return std::nullopt;
    auto ended = [this](const std::string& id) -> std::optional<EnvRecord> {
      auto e = db_.read([&](db::Tx& tx) { return get_env(tx, id); });
      return e ? *e : std::nullopt;
    };
    // The first answer says how soon a dropped stream is reopened, and sends the headers at once.
    std::string out = first_ ? "retry: 2000\n\n" : "";
    first_ = false;
    for (auto& e : tracker_.update(*active, ended)) out += "event: env\ndata: " + svc_.to_json(e).dump() + "\n\n";
    return out;
  }

  db::Database& db_;
  ListFilter filter_;
  ListTracker tracker_;
  bool first_ = true;
};

}  // namespace

std::vector<EnvRecord> ListTracker::update(const std::vector<EnvRecord>& active,
                                           const std::function<std::optional<EnvRecord>(const std::string&)>& ended) {
  std::vector<EnvRecord> out;
  // A QUEUED environment's reason changes without a new version.
  auto seen = [](const EnvRecord& e) { return std::to_string(e.version) + '\n' + e.reason; };
  std::map<std::string, std::string> now;
  for (auto& e : active) {
    now[e.id] = seen(e);
    auto it = known_.find(e.id);
    if (it == known_.end() || it->second != now[e.id]) out.push_back(e);
  }
  for (auto& [id, last] : known_) {
    if (now.contains(id)) continue;
    if (auto e = ended(id); e && seen(*e) != last) out.push_back(*e);
  }
  known_ = std::move(now);
  return out;
}

std::shared_ptr<async::Stream> event_stream(async::Runtime& rt, db::Database& db, Service& svc, std::string id,
                                            std::int64_t after) {
  return std::make_shared<EventStream>(rt, db, svc, std::move(id), after);
}

std::shared_ptr<async::Stream> list_stream(async::Runtime& rt, db::Database& db, Service& svc, ListFilter filter) {
  return std::make_shared<ListStream>(rt, db, svc, std::move(filter));
}

}  // namespace atrium::envs
