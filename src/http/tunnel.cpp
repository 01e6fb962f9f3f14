// A proxied WebSocket after the upstream's 101: bytes both ways until either side closes, or no
// byte passes for tunnel_idle_timeout_s. Frames pass untouched (close frames, pings and
// subprotocols are the peers' business).
#include <utility>  // must precede Asio with g++ 12 + Boost 1.74 coroutines

#include "http/detail/server_impl.hpp"

namespace atrium::http {

using namespace detail;

namespace {

// One direction of a tunnel: copies until EOF or an error, then closes both sides so that the
// other direction ends too. `done` is cancelled when it returns.
template <typename From, typename To, typename Touch>
awaitable<void> pipe_bytes(From& from, To& to, std::vector<char>& chunk, Touch& touch, std::function<void()> close_all,
                           asio::steady_timer* done) {
  beast::error_code ec;
  for (;;) {
    std::size_t n = co_await from.async_read_some(asio::buffer(chunk), asio::redirect_error(use_awaitable, ec));
    if (ec) break;
    co_await asio::async_write(to, asio::buffer(chunk.data(), n), asio::redirect_error(use_awaitable, ec));
    if (ec) break;
    touch();
  }
  close_all();
  if (done) done->cancel();
}

}  // namespace

template <typename Stream>
awaitable<void> Server::Impl::tunnel(Stream& client, flat_buffer& cbuf, Upstream& up, const ProxyTarget& t) {
  auto& lowest = beast::get_lowest_layer(client);
  lowest.expires_never();
  auto& us = *up.sock;
  if (up.buf.size() > 0) co_await asio::async_write(client, up.buf.data(), use_awaitable);
  up.buf.clear();
  if (cbuf.size() > 0) co_await asio::async_write(us, cbuf.data(), use_awaitable);
  cbuf.consume(cbuf.size());
  Stopwatch since_touch, since_byte;
  auto touch = [&] {
    since_byte.restart();
    if (t.touch && since_touch.millis() > 5000) {
      since_touch.restart();
      t.touch();
    }
  };
  bool closed = false;
  auto close_all = [&] {
    if (closed) return;
    closed = true;
    beast::error_code ec;
    us.close(ec);
    lowest.socket().shutdown(tcp::socket::shutdown_both, ec);
    lowest.cancel();
  };
  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer done(ex, asio::steady_timer::time_point::max());
  bool child_done = false;
  std::vector<char> down_chunk(64 * 1024);
  asio::co_spawn(ex, pipe_bytes(us, client, down_chunk, touch, close_all, &done),
                 [&child_done](std::exception_ptr) { child_done = true; });
  // The idle limit: no byte either way for tunnel_idle_timeout_s closes the tunnel.
  asio::steady_timer idle(ex), watchdog_end(ex, asio::steady_timer::time_point::max());
  bool watchdog_done = false;
  auto watchdog = [&]() -> awaitable<void> {  // outlives its coroutine: awaited through watchdog_end below
    const Millis limit = Millis{settings.tunnel_idle_timeout_s} * 1000;
    beast::error_code wec;
    while (!closed) {
      idle.expires_after(std::chrono::milliseconds(std::max<Millis>(0, limit - since_byte.millis())));
      co_await idle.async_wait(asio::redirect_error(use_awaitable, wec));
      if (closed) break;
      if (since_byte.millis() >= limit) {
        metrics.connection_cut("tunnel_idle");
        close_all();
      }
    }
    watchdog_done = true;
    watchdog_end.cancel();
  };
  asio::co_spawn(ex, watchdog(), asio::detached);
  co_await pipe_bytes(client, us, up.chunk, touch, close_all, nullptr);
  beast::error_code ec;
  while (!child_done) co_await done.async_wait(asio::redirect_error(use_awaitable, ec));
  idle.cancel();
  while (!watchdog_done) co_await watchdog_end.async_wait(asio::redirect_error(use_awaitable, ec));
  up.reset();
}

template awaitable<void> Server::Impl::tunnel(PlainStream&, flat_buffer&, Upstream&, const ProxyTarget&);
template awaitable<void> Server::Impl::tunnel(TlsStream&, flat_buffer&, Upstream&, const ProxyTarget&);

}  // namespace atrium::http
