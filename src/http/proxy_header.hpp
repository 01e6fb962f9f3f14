// What the proxy changes in a request's header before it goes to an environment, and in the
// answer before it goes back (Beast types; used by the server and the proxy's fuzz harness).
#pragma once

#include <cctype>
#include <string_view>

#include <boost/beast/http.hpp>

#include "http/server.hpp"

namespace atrium::http {

// Request: the route's strip list and the hop-by-hop fields go, a WebSocket upgrade keeps
// `Connection: Upgrade` (and its Upgrade header), then the route's headers are set; HTTP/1.1.
template <class Body, class Fields>
void rewrite_for_upstream(boost::beast::http::message<true, Body, Fields>& h, const ProxyTarget& t, bool websocket) {
  namespace bhttp = boost::beast::http;
  for (auto& name : t.strip) h.erase(name);
  for (auto f : {bhttp::field::connection, bhttp::field::keep_alive, bhttp::field::proxy_connection, bhttp::field::te,
                 bhttp::field::trailer, bhttp::field::expect})
    h.erase(f);
  if (websocket) h.set(bhttp::field::connection, "Upgrade");
  else h.erase(bhttp::field::upgrade);
  for (auto& [k, v] : t.add) h.set(k, v);
  h.version(11);
}

// An app may not set Atrium's cookies (atrium_*: the session, CSRF, env and guest cookies) nor widen
// a service worker's scope: such fields of its answer go.
inline bool is_atrium_set_cookie(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  auto name = v.substr(0, std::min(v.find('='), v.find(';')));
  if (name.size() < 6) return false;
  for (std::size_t i = 0; i < 6; ++i)
    if (std::tolower(static_cast<unsigned char>(name[i])) != "atrium"[i]) return false;
  return true;
}
template <class Body, class Fields>
void drop_atrium_fields(boost::beast::http::message<false, Body, Fields>& h) {
  namespace bhttp = boost::beast::http;
  h.erase("service-worker-allowed");
  for (auto it = h.begin(); it != h.end();)
    if (it->name() == bhttp::field::set_cookie && is_atrium_set_cookie(it->value())) it = h.erase(it);
    else ++it;
}

// Response (not a 101): the upstream's hop-by-hop fields go; keep-alive is the client's.
template <class Body, class Fields>
void rewrite_for_client(boost::beast::http::message<false, Body, Fields>& h, bool keep_alive) {
  namespace bhttp = boost::beast::http;
  for (auto f : {bhttp::field::connection, bhttp::field::keep_alive, bhttp::field::proxy_connection}) h.erase(f);
  drop_atrium_fields(h);
  h.version(11);
  h.keep_alive(keep_alive);
}

}  // namespace atrium::http
