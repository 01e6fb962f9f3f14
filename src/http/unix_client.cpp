#include <utility>  // must precede Asio with g++ 12 + Boost 1.74 coroutines

#include "http/unix_client.hpp"

#include <chrono>
#include <memory>

#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "core/dir.hpp"

namespace atrium::http {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using Local = asio::local::stream_protocol;

Error unreachable(const std::string& what) { return Error(ErrorCode::kUnavailable, "env-unreachable", what); }

// The socket and whether the deadline closed it; shared with the timer's handler, which may run
// after the request is done.
struct Exchange {
  explicit Exchange(const asio::any_io_executor& ex) : sock(ex), timer(ex) {}
  Local::socket sock;
  asio::steady_timer timer;
  bool timed_out = false;
};

}  // namespace

async::Task<Result<UnixReply>> unix_request(UnixRequest req) {
  auto x = std::make_shared<Exchange>(co_await asio::this_coro::executor);
  auto addr = Dir::socket_address(req.socket_path, req.owner_uid);
  if (!addr) co_return fail(unreachable(addr.error().detail));
  x->timer.expires_after(std::chrono::milliseconds(req.timeout));
  x->timer.async_wait([x](const boost::system::error_code& ec) {
    if (ec) return;
    x->timed_out = true;
    boost::system::error_code ignored;
    x->sock.close(ignored);
  });
  auto failed = [&](const char* what, const boost::system::error_code& ec) {
    x->timer.cancel();
    return fail(unreachable(x->timed_out ? std::string("timed out") : what + ec.message()));
  };
  boost::system::error_code ec;
  // addr->hold stays open until connect() is done: addr->path names that very inode.
  co_await x->sock.async_connect(Local::endpoint(addr->path), asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return failed("connect: ", ec);
  bhttp::request<bhttp::empty_body> out{bhttp::string_to_verb(req.method), req.target, 11};
  out.set(bhttp::field::host, "localhost");
  out.set(bhttp::field::connection, "close");
  if (out.method() != bhttp::verb::get) out.content_length(0);
  for (auto& [k, v] : req.headers) out.set(k, v);
  co_await bhttp::async_write(x->sock, out, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return failed("send: ", ec);
  beast::flat_buffer buf;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(req.max_body);
  co_await bhttp::async_read(x->sock, buf, parser, asio::redirect_error(asio::use_awaitable, ec));
  if (ec && ec != bhttp::error::body_limit) co_return failed("", ec);
  x->timer.cancel();
  UnixReply r;
  r.status = static_cast<int>(parser.get().result_int());
  r.body = std::move(parser.get().body());
  co_return r;
}

}  // namespace atrium::http
