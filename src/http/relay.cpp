// The reverse proxy's relay (its decisions live in src/proxy/): a request under the proxy's
// prefix is routed on the worker pool, then streamed to the upstream's unix socket and its answer
// streamed back, both re-framed piece by piece; a 101 becomes a tunnel (tunnel.cpp).
#include <utility>  // must precede Asio with g++ 12 + Boost 1.74 coroutines

#include <limits>

#include <spdlog/spdlog.h>

#include "core/dir.hpp"
#include "http/detail/server_impl.hpp"
#include "http/proxy_header.hpp"

namespace atrium::http {

using namespace detail;

namespace {

// Relays one message whose header `p` has read: header, then the body piece by piece (never
// whole), re-framed by the serializer (Content-Length or chunked as the header says).
// before_read/before_write set the deadlines of the client's side.
template <bool isRequest, typename In, typename Out, typename BeforeRead, typename BeforeWrite>
awaitable<void> relay_message(In& in, beast::flat_buffer& inbuf, bhttp::parser<isRequest, bhttp::buffer_body>& p,
                              Out& out, std::vector<char>& chunk, BeforeRead before_read, BeforeWrite before_write) {
  bhttp::serializer<isRequest, bhttp::buffer_body> sr{p.get()};
  beast::error_code ec;
  before_write();
  co_await bhttp::async_write_header(out, sr, use_awaitable);
  do {
    if (!p.is_done()) {
      p.get().body().data = chunk.data();
      p.get().body().size = chunk.size();
      before_read();
      co_await bhttp::async_read(in, inbuf, p, asio::redirect_error(use_awaitable, ec));
      if (ec == bhttp::error::need_buffer) ec = {};
      if (ec) throw beast::system_error(ec);
      p.get().body().size = chunk.size() - p.get().body().size;
      p.get().body().data = chunk.data();
      p.get().body().more = !p.is_done();
    } else {
      p.get().body().data = nullptr;
      p.get().body().size = 0;
    }
    before_write();
    co_await bhttp::async_write(out, sr, asio::redirect_error(use_awaitable, ec));
    if (ec == bhttp::error::need_buffer) ec = {};
    if (ec) throw beast::system_error(ec);
  } while (!p.is_done() && !sr.is_done());
}

}  // namespace

// Connects to a unix socket (Dir::socket_address: a long path or an owner check goes through
// /proc/self/fd). With `owner_uid`, the socket must be a socket of that uid, not a link.
awaitable<beast::error_code> Server::Impl::connect_upstream(Upstream& up, const std::string& path,
                                                            std::optional<std::uint32_t> owner_uid) {
  if (up.sock && up.sock->is_open() && up.path == path) co_return beast::error_code{};
  up.reset();
  UnixSocket s(co_await asio::this_coro::executor);
  auto addr = Dir::socket_address(path, owner_uid);
  if (!addr) {
    spdlog::warn("proxy: refusing to connect to {}: {}", path, addr.error().detail);
    co_return boost::system::errc::make_error_code(owner_uid ? boost::system::errc::permission_denied
                                                             : boost::system::errc::no_such_file_or_directory);
  }
  beast::error_code ec;
  co_await s.async_connect(asio::local::stream_protocol::endpoint(addr->path), asio::redirect_error(use_awaitable, ec));
  if (!ec) {
    up.sock.emplace(std::move(s));
    up.path = path;
  }
  co_return ec;
}

// Reads an upstream response's header within upstream_header_timeout_s. True: the deadline
// passed (`ec` is then set too).
awaitable<bool> Server::Impl::read_upstream_header(Upstream& up, BufferResponseParser& rp, beast::error_code& ec) {
  struct State {
    bool done = false;
    bool fired = false;
  };
  auto state = std::make_shared<State>();
  asio::steady_timer deadline(co_await asio::this_coro::executor);
  deadline.expires_after(std::chrono::seconds(settings.upstream_header_timeout_s));
  UnixSocket* sock = &*up.sock;  // alive while the read below is pending (the handler runs on this strand)
  deadline.async_wait([state, sock](const beast::error_code& e) {
    if (e || state->done) return;
    state->fired = true;
    beast::error_code ignored;
    sock->cancel(ignored);
  });
  co_await bhttp::async_read_header(*up.sock, up.buf, rp, asio::redirect_error(use_awaitable, ec));
  state->done = true;
  deadline.cancel();
  co_return ec && state->fired;
}

// Whether a request goes to the proxy: any on a host the proxy owns (an environment's origin),
// else those under its path prefix.
bool Server::Impl::for_proxy(const RequestHeader& hdr) const {
  const auto& p = settings.proxy;
  if (p.owns_host)
    if (auto it = hdr.find(bhttp::field::host); it != hdr.end() && p.owns_host(it->value())) return true;
  return !p.prefix.empty() && std::string_view(hdr.target()).starts_with(p.prefix);
}

// The proxy's decision: from memory on this I/O thread when it has one, else on the worker pool.
awaitable<ProxyTarget> Server::Impl::route_proxy(const Request& req) {
  if (settings.proxy.cached_route)
    if (auto cached = settings.proxy.cached_route(req)) co_return std::move(*cached);
  auto route = settings.proxy.route;
  co_return co_await async::on_pool(rt, [&req, &route] { return route(req); });
}

// Sends the request to the upstream (once more on a fresh connection when a kept one turns out
// closed and no body was consumed) and reads its answer's header into `rp`. 0: done; else the
// status of the error already answered to the client (the connection then closes).
template <typename Stream>
awaitable<int> Server::Impl::forward_request(Stream& stream, flat_buffer& buffer, BufferRequestParser& p, Upstream& up,
                                             const ProxyTarget& t, const Request& req, unsigned version, bool has_body,
                                             std::optional<BufferResponseParser>& rp) {
  auto& lowest = beast::get_lowest_layer(stream);
  const auto& rid = req.request_id;
  auto client_read = [&] { lowest.expires_after(std::chrono::seconds(settings.request_timeout_s)); };
  auto answer = [&](int status, std::string type, std::string detail) -> awaitable<int> {
    co_await write_response(stream, server_problem(status, std::move(type), std::move(detail), rid), version, false,
                            false, rid);
    co_return status;
  };
  for (int attempt = 0;; ++attempt) {
    bool reused = up.sock && up.sock->is_open() && up.path == t.socket_path;
    if (auto ec = co_await connect_upstream(up, t.socket_path, t.socket_uid); ec)
      co_return co_await answer(502, "env-unreachable", "the environment does not answer: " + ec.message());
    // The request, streamed to the upstream; then the response's header.
    beast::error_code ec;
    try {
      co_await relay_message(stream, buffer, p, *up.sock, up.chunk, client_read, [] {});
    } catch (const beast::system_error& e) {
      ec = e.code();
    }
    rp.emplace();
    rp->body_limit(std::numeric_limits<std::uint64_t>::max());
    if (req.method == "HEAD") rp->skip(true);
    bool timed_out = false;
    if (!ec) {
      lowest.expires_never();  // an app may take its time (long polls), up to the header deadline
      timed_out = co_await read_upstream_header(up, *rp, ec);
    }
    if (!ec) co_return 0;
    up.reset();
    if (timed_out) {
      metrics.connection_cut("upstream_timeout");
      co_return co_await answer(
          504, "env-timeout",
          "the environment did not answer within " + std::to_string(settings.upstream_header_timeout_s) + " s");
    }
    // A kept connection the upstream closed meanwhile: once more on a new one, if nothing of a
    // body was consumed.
    if (reused && attempt == 0 && !has_body) continue;
    co_return co_await answer(502, "env-unreachable", "the environment's answer failed: " + ec.message());
  }
}

// A request for the proxy's prefix, its header read. Returns whether the client connection
// may serve another request.
template <typename Stream>
awaitable<bool> Server::Impl::proxy_request(Stream& stream, flat_buffer& buffer, HeadParser& head, Upstream& up,
                                            const std::string& remote_ip, bool tls, const std::string& rid,
                                            const Stopwatch& t0, Conn& conn) {
  auto& lowest = beast::get_lowest_layer(stream);
  auto& hdr = head.get();
  Request req = request_head(hdr, remote_ip, rid, tls);
  auto qpos = req.target.find('?');
  if (auto path = percent_decode(std::string_view(req.target).substr(0, qpos), false)) req.path = std::move(*path);
  if (qpos != std::string::npos)
    if (auto q = parse_query(std::string_view(req.target).substr(qpos + 1))) req.query = std::move(*q);
  const unsigned version = hdr.version();
  const bool keep = head.keep_alive() && !draining;
  const bool has_body = head.chunked() || head.content_length().value_or(0) > 0;
  ProxyTarget t = co_await route_proxy(req);
  auto finish = [&](int status) {
    double secs = t0.seconds();
    metrics.observe_request(t.route, req.method, status, secs);
    log_access(req, status, secs, 0, t.route);
  };
  if (!t.forward) {
    // The body (if any) is not read: the connection ends after the answer.
    co_await write_response(stream, t.refuse, version, keep && !has_body, req.method == "HEAD", rid);
    finish(t.refuse.status);
    co_return keep && !has_body;
  }
  // The proxy let it through: a signed-in caller's connection counts against its user from now
  // on (over the cap: 429); a guest's stays counted against its address, only the
  // pre-authentication deadline is lifted.
  if (!t.user.empty()) {
    if (auto st = claim_slot(conn, t.user); !st) {
      co_await write_response(stream, Response::problem(st.error(), rid), version, false, req.method == "HEAD", rid);
      finish(429);
      co_return false;
    }
  } else if (!conn.admitted) {
    conn.admitted = true;
  }
  if (t.touch) t.touch();
  if (auto it = hdr.find(bhttp::field::expect); it != hdr.end() && beast::iequals(it->value(), "100-continue")) {
    bhttp::response<bhttp::empty_body> cont{bhttp::status::continue_, version};
    lowest.expires_after(std::chrono::seconds(settings.request_timeout_s));
    co_await bhttp::async_write(stream, cont, use_awaitable);
  }
  BufferRequestParser p{std::move(head)};
  p.body_limit(std::numeric_limits<std::uint64_t>::max());  // streamed, never held
  rewrite_for_upstream(p.get(), t, req.websocket);
  std::optional<BufferResponseParser> rp;
  if (int failed = co_await forward_request(stream, buffer, p, up, t, req, version, has_body, rp); failed) {
    finish(failed);
    co_return false;
  }
  auto& res = rp->get();
  int status = static_cast<int>(res.result_int());
  auto client_write = [&] { lowest.expires_after(std::chrono::seconds(settings.request_timeout_s)); };
  if (status == 101) {
    if (!req.websocket) throw std::runtime_error("the upstream switched protocols unasked");
    client_write();
    drop_atrium_fields(res);  // a handshake's Set-Cookie counts too
    bhttp::response_serializer<bhttp::buffer_body> sr{res};
    co_await bhttp::async_write_header(stream, sr, use_awaitable);
    finish(101);
    co_await tunnel(stream, buffer, up, t);
    co_return false;
  }
  bool upstream_keep = rp->keep_alive();
  rewrite_for_client(res, keep);
  co_await relay_message(
      *up.sock, up.buf, *rp, stream, up.chunk, [] {}, client_write);
  if (!upstream_keep) up.reset();
  finish(status);
  co_return keep;
}

template awaitable<bool> Server::Impl::proxy_request(PlainStream&, flat_buffer&, HeadParser&, Upstream&,
                                                     const std::string&, bool, const std::string&, const Stopwatch&,
                                                     Conn&);
template awaitable<bool> Server::Impl::proxy_request(TlsStream&, flat_buffer&, HeadParser&, Upstream&,
                                                     const std::string&, bool, const std::string&, const Stopwatch&,
                                                     Conn&);

}  // namespace atrium::http
