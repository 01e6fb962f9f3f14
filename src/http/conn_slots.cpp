// Connection caps: a slot per connection, counted against its client IP until a request
// authenticates on it, then against its user; the oldest idle stranger makes room at a cap.
#include <utility>  // must precede Asio with g++ 12 + Boost 1.74 coroutines

#include <nlohmann/json.hpp>

#include "http/detail/server_impl.hpp"

namespace atrium::http {

using namespace detail;

namespace {

// Answered to a connection over a cap, written without waiting (a full socket buffer drops it).
const std::string& busy_response() {
  static const std::string r = [] {
    std::string body = nlohmann::json{{"type", "urn:atrium:problem:too-many-connections"},
                                      {"title", "too-many-connections"},
                                      {"status", 503},
                                      {"detail", "too many open connections; try again later"}}
                           .dump();
    return "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/problem+json\r\nConnection: close\r\n"
           "Cache-Control: no-store\r\nRetry-After: 5\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body;
  }();
  return r;
}

}  // namespace

// Frees the slot `c` holds. Needs conns_mu.
void Server::Impl::release_slot_locked(Conn& c) {
  if (c.slot == Conn::Slot::kIp) {
    if (auto it = by_ip.find(address_key(c.ip)); it != by_ip.end()) {
      it->second.erase(c.seq);
      if (it->second.empty()) by_ip.erase(it);
    }
    unattributed.erase(c.seq);
  } else if (c.slot == Conn::Slot::kUser) {
    if (auto it = by_user.find(c.user); it != by_user.end() && --it->second <= 0) by_user.erase(it);
  }
  if (c.slot != Conn::Slot::kNone) --slots_held;
  c.slot = Conn::Slot::kNone;
}

// Closes the oldest connection of `pool` (not yet attributed to a user) that is between
// requests; false when every one is in a request. Needs conns_mu.
bool Server::Impl::evict_oldest_locked(std::map<std::uint64_t, std::shared_ptr<Conn>>& pool) {
  for (auto& entry : pool) {
    if (entry.second->in_request) continue;
    auto victim = entry.second;  // release_slot_locked erases the entry
    release_slot_locked(*victim);
    asio::post(victim->strand, [victim] {
      if (victim->cancel) victim->cancel();
    });
    metrics.connection_cut("evicted");
    return true;
  }
  return false;
}

// A slot for a new connection, counted against its IP until a request authenticates on it.
// At a cap, the oldest idle stranger (of the IP, or of all) makes room. Needs conns_mu.
bool Server::Impl::take_slot_locked(const std::shared_ptr<Conn>& c) {
  // A trusted reverse proxy carries every client's connections: only max_connections bounds it.
  if (settings.max_connections_per_ip > 0 && !is_trusted(settings.trusted_proxies, c->ip)) {
    auto it = by_ip.find(address_key(c->ip));
    if (it != by_ip.end() && static_cast<int>(it->second.size()) >= settings.max_connections_per_ip &&
        !evict_oldest_locked(it->second)) {
      metrics.connection_cut("per_ip");
      return false;
    }
  }
  if (slots_held >= settings.max_connections && !evict_oldest_locked(unattributed)) {
    metrics.connection_cut("max_connections");
    return false;
  }
  c->seq = ++conn_seq;
  by_ip[address_key(c->ip)].emplace(c->seq, c);
  unattributed.emplace(c->seq, c);
  c->slot = Conn::Slot::kIp;
  ++slots_held;
  return true;
}

// Attributes a connection to the user a request authenticated as ("" = a proxied request let
// through without one): it leaves its IP's count, and the pre-authentication deadline no
// longer applies. An error: the user holds max_connections_per_user already (429).
Status Server::Impl::claim_slot(Conn& c, const std::string& user) {
  std::lock_guard lock(conns_mu);
  bool same = user.empty() ? (c.slot == Conn::Slot::kUser || c.slot == Conn::Slot::kAnon)
                           : (c.slot == Conn::Slot::kUser && c.user == user);
  if (same) {
    c.admitted = true;
    return {};
  }
  if (!user.empty() && settings.max_connections_per_user > 0) {
    auto it = by_user.find(user);
    if (it != by_user.end() && it->second >= settings.max_connections_per_user) {
      metrics.connection_cut("per_user");
      return fail(Error(ErrorCode::kResourceExhausted, "too-many-connections",
                        "you have " + std::to_string(it->second) +
                            " connections open to this server, the most one user may have; close some")
                      .with("retry_after_s", 5));
    }
  }
  release_slot_locked(c);
  if (user.empty()) {
    c.slot = Conn::Slot::kAnon;
  } else {
    ++by_user[user];
    c.slot = Conn::Slot::kUser;
    c.user = user;
  }
  ++slots_held;
  c.admitted = true;
  return {};
}

// Writes the canned 503 without waiting (what the socket buffer takes) and closes.
void Server::Impl::refuse_busy(tcp::socket& sock) {
  beast::error_code ec;
  sock.non_blocking(true, ec);
  const auto& r = busy_response();
  if (!ec) sock.write_some(asio::buffer(r), ec);
  sock.shutdown(tcp::socket::shutdown_both, ec);
  sock.close(ec);
}

}  // namespace atrium::http
