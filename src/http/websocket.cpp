// A WebSocket that carries a response's Stream (a job's log as it grows): one binary message per
// piece, with a reader beside the writer for pings and the client's close.
#include <utility>  // must precede Asio with g++ 12 + Boost 1.74 coroutines

#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include "http/detail/server_impl.hpp"

namespace atrium::http {

using namespace detail;

// A WebSocket that carries a BodyStream: `r.body`, then each piece, one binary message each.
// A reader runs beside the writer (on the connection's strand) so that pings are answered and
// the client's close is seen; client messages are ignored. Ends on the stream's end (close
// 1000), the client's close or error, or shutdown (close 1001: the client resumes elsewhere).
template <typename Stream>
awaitable<void> Server::Impl::run_websocket(Stream& stream, const StringRequest& msg, const Response& r,
                                            const std::string& rid) {
  namespace ws = beast::websocket;
  ws::stream<Stream&> sock(stream);
  beast::get_lowest_layer(stream).expires_never();  // the WebSocket's own timeouts from here on
  auto timeouts = ws::stream_base::timeout::suggested(beast::role_type::server);
  timeouts.idle_timeout = std::chrono::seconds(settings.idle_timeout_s);
  timeouts.keep_alive_pings = true;  // an idle client is pinged; one that does not answer is cut off
  sock.set_option(timeouts);
  sock.set_option(ws::stream_base::decorator([&](ws::response_type& res) {
    res.set("X-Request-Id", rid);
    for (auto& [k, v] : r.headers) res.insert(k, v);
  }));
  sock.read_message_max(64 * 1024);
  sock.binary(true);
  beast::error_code ec;
  co_await sock.async_accept(msg, asio::redirect_error(use_awaitable, ec));
  if (ec) co_return;

  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer reader_done(ex, asio::steady_timer::time_point::max());
  bool reader_finished = false;
  auto reader = [&]() -> awaitable<void> {  // outlives its coroutine: awaited through reader_done below
    beast::flat_buffer in;
    beast::error_code rec;
    for (;;) {
      co_await sock.async_read(in, asio::redirect_error(use_awaitable, rec));
      if (rec) break;
      in.consume(in.size());
    }
    reader_finished = true;
    r.stream->cancel();
    reader_done.cancel();
  };
  asio::co_spawn(ex, reader(), asio::detached);

  PieceWriter write = [&](const std::string& piece) -> awaitable<bool> {
    co_await sock.async_write(asio::buffer(piece), asio::redirect_error(use_awaitable, ec));
    co_return !ec;
  };
  co_await pump(*r.stream, r.body, write, [&] { return reader_finished; });
  if (!reader_finished && !ec) {
    ws::close_reason why(draining ? ws::close_code::going_away : ws::close_code::normal);
    co_await sock.async_close(why, asio::redirect_error(use_awaitable, ec));
  }
  if (!reader_finished) {
    if (ec) beast::get_lowest_layer(stream).socket().close(ec);  // ends the reader's read
    co_await reader_done.async_wait(asio::redirect_error(use_awaitable, ec));
  }
}

template awaitable<void> Server::Impl::run_websocket(PlainStream&, const StringRequest&, const Response&,
                                                     const std::string&);
template awaitable<void> Server::Impl::run_websocket(TlsStream&, const StringRequest&, const Response&,
                                                     const std::string&);

}  // namespace atrium::http
