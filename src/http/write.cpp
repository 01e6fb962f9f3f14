// Responses: a whole body, a body of known length produced by a stream (Content-Length), or a
// chunked one that grows while it is sent; and the pump that feeds a stream's pieces to a writer.
#include <utility>  // must precede Asio with g++ 12 + Boost 1.74 coroutines

#include "http/detail/server_impl.hpp"

namespace atrium::http {

using namespace detail;

template <typename Stream>
awaitable<void> Server::Impl::write_response(Stream& stream, const Response& r, unsigned version, bool keep_alive,
                                             bool head, const std::string& rid) {
  StringResponse res{static_cast<bhttp::status>(r.status), version};
  if (!r.content_type.empty()) res.set(bhttp::field::content_type, r.content_type);
  for (auto& [k, v] : r.headers) res.insert(k, v);
  res.set("X-Request-Id", rid);
  if (r.status >= 400 || r.content_type.starts_with("application/json"))
    res.set(bhttp::field::cache_control, "no-store");
  res.keep_alive(keep_alive);
  if (head) {
    res.content_length(r.stream && r.stream_length >= 0 ? static_cast<std::uint64_t>(r.stream_length) : r.body.size());
    bhttp::response_serializer<bhttp::string_body> sr{res};
    sr.split(true);
    co_await bhttp::async_write_header(stream, sr, use_awaitable);
  } else if (r.stream && r.stream_length >= 0) {
    co_await write_sized(stream, res, r);
  } else if (r.stream && version >= 11) {
    co_await write_streamed(stream, res, r);
  } else {
    res.body() = r.body;
    res.prepare_payload();
    co_await bhttp::async_write(stream, res, use_awaitable);
  }
}

namespace {

// The streams being pumped, so that shutdown can cancel their waits (on their own strands).
struct LiveStream {
  Server::Impl& impl;
  async::Stream* s;
  LiveStream(Server::Impl& i, async::Stream& src, asio::any_io_executor ex) : impl(i), s(&src) {
    std::lock_guard lk(impl.conns_mu);
    impl.live_streams.emplace(s, std::move(ex));
  }
  ~LiveStream() {
    std::lock_guard lk(impl.conns_mu);
    impl.live_streams.erase(s);
  }
};

}  // namespace

// Feeds `first`, then each piece `src` yields, to `write` (which returns false when the peer is
// gone). Nothing polls: the stream wakes this coroutine when it has more. Ends at the stream's
// end, on a failed write, on shutdown (begin_shutdown cancels every live stream; the client
// resumes from its offset elsewhere) or when `stop()` says so (after a cancel of the stream by
// the caller). True: the stream ended.
awaitable<bool> Server::Impl::pump(async::Stream& src, std::string first, PieceWriter write,
                                   std::function<bool()> stop) {
  LiveStream live(*this, src, co_await asio::this_coro::executor);
  std::string piece = std::move(first);
  for (;;) {
    if (!piece.empty()) {
      if (!co_await write(piece)) co_return false;
      piece.clear();
    }
    if (draining || stop()) co_return false;
    if (!co_await src.next(piece)) {
      if (!piece.empty() && !co_await write(piece)) co_return false;
      co_return true;
    }
  }
}

void Server::Impl::cancel_streams() {
  std::lock_guard lk(conns_mu);
  for (auto& [s, ex] : live_streams)
    asio::post(ex, [this, s = s] {
      std::lock_guard lk2(conns_mu);
      if (live_streams.count(s)) s->cancel();  // still pumped: alive (this runs on its strand)
    });
}

template <typename Stream>
awaitable<void> Server::Impl::write_header_only(Stream& stream, StringResponse& res) {
  bhttp::response_serializer<bhttp::string_body> sr{res};
  beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(settings.request_timeout_s));
  co_await bhttp::async_write_header(stream, sr, use_awaitable);
}

// Chunked: the header, `r.body` as the first chunk, then each piece the stream yields; the
// stream's end (or shutdown) writes the last chunk.
template <typename Stream>
awaitable<void> Server::Impl::write_streamed(Stream& stream, StringResponse& res, const Response& r) {
  res.chunked(true);
  co_await write_header_only(stream, res);
  auto& lowest = beast::get_lowest_layer(stream);
  const auto write_timeout = std::chrono::seconds(settings.request_timeout_s);
  PieceWriter write = [&](const std::string& piece) -> awaitable<bool> {
    lowest.expires_after(write_timeout);  // a client that stops reading is cut off
    co_await asio::async_write(stream, bhttp::make_chunk(asio::buffer(piece)), use_awaitable);
    co_return true;
  };
  lowest.expires_never();  // while the stream waits for more; each write arms its own timeout
  co_await pump(*r.stream, r.body, write, [] { return false; });
  if (r.stream->failed()) throw std::runtime_error("the response body could not be produced");
  lowest.expires_after(write_timeout);
  co_await asio::async_write(stream, bhttp::make_chunk_last(), use_awaitable);
}

// A body of known length (Content-Length) produced by a stream: a file download. If the stream
// fails or ends early, the connection is cut so that the client sees a short body.
template <typename Stream>
awaitable<void> Server::Impl::write_sized(Stream& stream, StringResponse& res, const Response& r) {
  res.content_length(static_cast<std::uint64_t>(r.stream_length));
  co_await write_header_only(stream, res);
  auto& lowest = beast::get_lowest_layer(stream);
  const auto write_timeout = std::chrono::seconds(settings.request_timeout_s);
  std::int64_t sent = 0;
  PieceWriter write = [&](const std::string& piece) -> awaitable<bool> {
    if (sent + static_cast<std::int64_t>(piece.size()) > r.stream_length)
      throw std::runtime_error("the response body is longer than its Content-Length");
    lowest.expires_after(write_timeout);
    co_await asio::async_write(stream, asio::buffer(piece), use_awaitable);
    sent += static_cast<std::int64_t>(piece.size());
    co_return true;
  };
  lowest.expires_never();
  bool ended = co_await pump(*r.stream, r.body, write, [] { return false; });
  if (!ended || r.stream->failed() || sent != r.stream_length)
    throw std::runtime_error("the response body ended short of its Content-Length");
}

template awaitable<void> Server::Impl::write_response(PlainStream&, const Response&, unsigned, bool, bool,
                                                      const std::string&);
template awaitable<void> Server::Impl::write_response(TlsStream&, const Response&, unsigned, bool, bool,
                                                      const std::string&);

}  // namespace atrium::http
