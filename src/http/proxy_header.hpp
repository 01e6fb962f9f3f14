// What the proxy changes in a request's header before it goes to an environment, and in the
// answer before it goes back (Beast types; used by the server and the proxy's fuzz harness).
#pragma once

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

// Response (not a 101): the upstream's hop-by-hop fields go; keep-alive is the client's.
template <class Body, class Fields>
void rewrite_for_client(boost::beast::http::message<false, Body, Fields>& h, bool keep_alive) {
  namespace bhttp = boost::beast::http;
  for (auto f : {bhttp::field::connection, bhttp::field::keep_alive, bhttp::field::proxy_connection}) h.erase(f);
  h.version(11);
  h.keep_alive(keep_alive);
}

}  // namespace atrium::http
