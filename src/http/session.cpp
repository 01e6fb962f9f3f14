// One connection's requests: the idle wait, the header under its deadlines, the admission of
// a request before its body, the dispatch to the Api on the worker pool, and the access log.
#include <utility>  // must precede Asio with g++ 12 + Boost 1.74 coroutines

#include <array>
#include <cctype>
#include <cstdio>
#include <limits>

#include <boost/beast/websocket/rfc6455.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "http/detail/server_impl.hpp"

namespace atrium::http {

using namespace detail;

namespace {

bool good_request_id(std::string_view v) {
  if (v.empty() || v.size() > 128) return false;
  for (char c : v)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == ':')) return false;
  return true;
}

std::string json_escape(std::string_view s) {
  return nlohmann::json(std::string(s)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

std::string Server::Impl::new_request_id() {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%012llx", static_cast<unsigned long long>(++rid_counter));
  return rid_prefix + buf;
}

Response Server::Impl::server_problem(int status, std::string type, std::string detail, const std::string& rid) {
  nlohmann::json j = {
      {"type", "urn:atrium:problem:" + type},    {"title", type},    {"status", status}, {"detail", detail},
      {"instance", "urn:atrium:request:" + rid}, {"request_id", rid}};
  Response r = Response::json(status, j);
  r.content_type = "application/problem+json";
  return r;
}

// The Beast-free request of a parsed header (names lower-cased), without its body.
Request Server::Impl::request_head(const RequestHeader& m, const std::string& remote_ip, const std::string& rid,
                                   bool tls) const {
  Request req;
  req.method = std::string(m.method_string());
  req.target = std::string(m.target());
  req.remote_ip = remote_ip;
  req.request_id = rid;
  req.tls = tls;
  req.headers.reserve(16);
  for (auto& f : m) {
    std::string name(f.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    req.headers.emplace_back(std::move(name), std::string(f.value()));
  }
  req.websocket = beast::websocket::is_upgrade(m);
  apply_forwarded(req, settings.trusted_proxies);  // client address and scheme behind a trusted proxy
  return req;
}

// Sets req.path and req.query from req.target; an error names what is wrong (400 bad-url).
Status Server::Impl::split_target(Request& req) {
  if (req.target.empty() || req.target[0] != '/') return invalid("the request target must be an absolute path");
  auto qpos = req.target.find('?');
  req.path = TRY(percent_decode(std::string_view(req.target).substr(0, qpos), false));
  if (qpos != std::string::npos) req.query = TRY(parse_query(std::string_view(req.target).substr(qpos + 1)));
  return {};
}

// Api::admit on a request's header, on the worker pool: nullopt = read the body.
awaitable<std::optional<Response>> Server::Impl::admit_head(const RequestHeader& hdr, const std::string& remote_ip,
                                                            const std::string& rid, bool tls, Admission& adm) {
  Request req = request_head(hdr, remote_ip, rid, tls);
  if (auto st = split_target(req); !st) co_return server_problem(400, "bad-url", st.error().detail, rid);
  co_return co_await async::on_pool(rt, [this, &req, &adm] { return api.admit(req, adm); });
}

// Arms the stream's deadline `seconds` from now, or at the connection's pre-authentication
// deadline if that comes first and no request has authenticated on it yet.
void Server::Impl::expire_in(PlainStream& lowest, const Conn& conn, int seconds) {
  std::chrono::milliseconds in{Millis{seconds} * 1000};
  if (!conn.admitted && conn.preauth_ms != async::kNever)
    in = std::min(in, std::chrono::milliseconds(std::max<Millis>(0, conn.preauth_ms - conn.age.millis())));
  lowest.expires_after(in);
}

// Whether a read that timed out ended at the pre-authentication deadline (counted).
bool Server::Impl::preauth_expired(const Conn& conn) {
  if (conn.admitted || conn.preauth_ms == async::kNever || conn.age.millis() < conn.preauth_ms) return false;
  metrics.connection_cut("preauth_timeout");
  return true;
}

void Server::Impl::log_access(const Request& req, int status, double seconds, std::size_t bytes,
                              const std::string& route) {
  if (!settings.access_log) return;
  auto ua = req.header("user-agent");
  settings.access_log->info(
      "{{\"time\":{},\"request_id\":{},\"remote\":{},\"method\":{},\"path\":{},\"route\":{},\"status\":{},"
      "\"bytes\":{},\"duration_ms\":{:.3f},\"user_agent\":{}}}",
      json_escape(format_rfc3339(SystemClock().now_ms())), json_escape(req.request_id), json_escape(req.remote_ip),
      json_escape(req.method), json_escape(req.path), json_escape(route), status, bytes, seconds * 1000,
      json_escape(ua ? *ua : ""));
}

// After an answer sent before the request's body was read: ends our side, then reads and
// drops what the client still sends for a moment (at most 2 s and 1 MiB, never kept), so that
// closing does not reset the connection before the client has read the answer.
template <typename Stream>
awaitable<void> Server::Impl::linger_close(Stream& stream) {
  auto& lowest = beast::get_lowest_layer(stream);
  beast::error_code ec;
  lowest.socket().shutdown(tcp::socket::shutdown_send, ec);
  lowest.expires_after(std::chrono::seconds(2));
  std::array<char, 16 * 1024> sink;
  std::size_t total = 0;
  while (total < (1u << 20)) {
    std::size_t n = co_await lowest.async_read_some(asio::buffer(sink), asio::redirect_error(use_awaitable, ec));
    if (ec) break;
    total += n;
  }
}

// Waits for the first byte of the next request (idle timeout), then gives the whole header a
// short deadline: a client that trickles bytes (slowloris) is cut off. Until a request has
// authenticated, both end at the connection's pre-authentication deadline too. False: the
// connection ends (a malformed or oversized header has been answered).
template <typename Stream>
awaitable<bool> Server::Impl::read_head(Stream& stream, flat_buffer& buffer, HeadParser& head, Conn& conn,
                                        Stopwatch& t0, std::string& rid) {
  auto& lowest = beast::get_lowest_layer(stream);
  beast::error_code ec;
  if (buffer.size() == 0) {
    expire_in(lowest, conn, settings.idle_timeout_s);
    std::size_t n = co_await stream.async_read_some(buffer.prepare(4096), asio::redirect_error(use_awaitable, ec));
    if (ec) {
      if (ec == beast::error::timeout) preauth_expired(conn);
      co_return false;
    }
    buffer.commit(n);
  }
  conn.busy = true;
  t0.restart();
  head.header_limit(static_cast<std::uint32_t>(settings.max_header_bytes));
  // No limit for the header (boost::none compares wrongly in Beast 1.81): the route's limit is
  // applied once the header is known.
  head.body_limit(std::numeric_limits<std::uint64_t>::max());
  expire_in(lowest, conn, settings.header_timeout_s);
  co_await bhttp::async_read_header(stream, buffer, head, asio::redirect_error(use_awaitable, ec));
  rid = new_request_id();
  if (!ec) {
    auto& hdr = head.get();
    if (auto it = hdr.find("x-request-id"); it != hdr.end() && good_request_id(it->value()))
      rid = std::string(it->value());
    co_return true;
  }
  if (ec == beast::error::timeout) preauth_expired(conn);
  if (ec == bhttp::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::operation_aborted ||
      ec == asio::error::eof || ec == asio::error::connection_reset)
    co_return false;
  Response r;
  if (ec == bhttp::error::header_limit)
    r = server_problem(431, "header-too-large",
                       "the request header is larger than " + std::to_string(settings.max_header_bytes) + " bytes",
                       rid);
  else
    r = server_problem(400, "bad-request", "malformed HTTP request: " + ec.message(), rid);
  co_await write_response(stream, r, 11, false, false, rid);
  co_return false;
}

template <typename Stream>
awaitable<void> Server::Impl::session(Stream& stream, std::shared_ptr<Conn> conn, std::string remote_ip, bool tls) {
  beast::flat_buffer buffer;
  std::optional<Upstream> upstream;  // the proxy's connection, kept for the next request
  for (;;) {
    if (draining) break;
    HeadParser head;
    Stopwatch t0;
    std::string rid;
    if (!co_await read_head(stream, buffer, head, *conn, t0, rid)) break;
    conn->in_request = true;  // not evicted from here to its answer
    struct InRequest {
      Conn& c;
      ~InRequest() { c.in_request = false; }
    } in_request{*conn};
    bool again = false;
    if (for_proxy(head.get())) {
      if (!upstream) upstream.emplace();
      again = co_await proxy_request(stream, buffer, head, *upstream, remote_ip, tls, rid, t0, *conn);
    } else {
      again = co_await serve_local(stream, buffer, head, conn, remote_ip, tls, rid, t0);
    }
    if (!again) break;
    conn->busy = false;
    if (buffer.size() == 0 && buffer.capacity() > 16 * 1024) buffer.shrink_to_fit();  // idle connections stay small
  }
}

// A request for the Api, its header read: admitted before a byte of its body is read, the body
// read (or spooled), handled on the worker pool and answered. True: the connection may serve
// another request.
template <typename Stream>
awaitable<bool> Server::Impl::serve_local(Stream& stream, flat_buffer& buffer, HeadParser& head,
                                          const std::shared_ptr<Conn>& conn, const std::string& remote_ip, bool tls,
                                          const std::string& rid, const Stopwatch& t0) {
  auto& hdr = head.get();
  bool over_cap = false;  // the per-user connection cap refused the request
  Admission adm;
  adm.claim = [this, conn, &over_cap](const std::string& user) {
    auto st = claim_slot(*conn, user);
    if (!st) over_cap = true;
    return st;
  };
  if (head.chunked() || head.content_length().value_or(0) > 0) {
    std::optional<Response> refused = co_await admit_head(hdr, remote_ip, rid, tls, adm);
    if (refused) {
      metrics.connection_cut("unauthorized_body");
      co_await write_response(stream, *refused, hdr.version(), false, false, rid);
      double secs = t0.seconds();
      std::string route = adm.pattern.empty() ? "unmatched" : adm.pattern;
      metrics.observe_request(route, hdr.method_string(), refused->status, secs);
      log_access(request_head(hdr, remote_ip, rid, tls), refused->status, secs, refused->body.size(), route);
      co_await linger_close(stream);
      co_return false;
    }
  }
  StringRequest msg;
  SpoolFile spooled;
  if (!co_await read_request_body(stream, buffer, head, rid, *conn, msg, spooled)) co_return false;
  Request req = request_head(msg, remote_ip, rid, tls);
  req.body = std::move(msg.body());
  req.body_file = spooled.path;
  Response resp;
  std::string route;
  if (auto st = split_target(req); !st) {
    resp = server_problem(400, "bad-url", st.error().detail, rid);
  } else {
    resp = co_await async::on_pool(rt, [this, &req, &adm] { return api.handle(req, adm); });
    route = adm.pattern;
  }
  if (req.websocket && ((resp.websocket && resp.stream) || resp.ws_handler) && resp.status < 300) {
    double secs = t0.seconds();
    metrics.observe_request(route, req.method, 101, secs);  // the upgrade; the WebSocket may last hours
    log_access(req, 101, secs, 0, route);
    if (resp.ws_handler)
      co_await run_ws_handler(stream, msg, resp, rid);
    else
      co_await run_websocket(stream, msg, resp, rid);
    co_return false;
  }
  bool keep = msg.keep_alive() && !draining && !over_cap;
  co_await write_response(stream, resp, msg.version(), keep, req.method == "HEAD", rid);
  double secs = t0.seconds();
  metrics.observe_request(route.empty() ? "unmatched" : route, req.method, resp.status, secs);  // methods bounded there
  log_access(req, resp.status, secs, resp.body.size(), route);
  co_return keep;
}

template awaitable<void> Server::Impl::session(PlainStream&, std::shared_ptr<Conn>, std::string, bool);
template awaitable<void> Server::Impl::session(TlsStream&, std::shared_ptr<Conn>, std::string, bool);
template awaitable<void> Server::Impl::linger_close(PlainStream&);
template awaitable<void> Server::Impl::linger_close(TlsStream&);

}  // namespace atrium::http
