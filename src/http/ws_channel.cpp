// WsChannel over Beast: the server side of an upgrade a route hands to a WsHandler, and the
// client (ws_connect) for plain and TLS connections.
#include <utility>  // must precede Asio with g++ 12 + Boost 1.74 coroutines

#include "http/ws_channel.hpp"

#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <spdlog/spdlog.h>

#include "core/text.hpp"
#include "http/detail/server_impl.hpp"

namespace atrium::http {

using namespace detail;
namespace ws = beast::websocket;

namespace {

// A WsChannel on a Beast websocket stream `WS` (held by reference, or owned with what it needs).
template <typename WS>
class BeastChannel final : public WsChannel {
 public:
  explicit BeastChannel(WS& ws) : ws_(ws) {}
  BeastChannel(std::unique_ptr<WS> owned, std::shared_ptr<asio::ssl::context> tls)
      : tls_(std::move(tls)), owned_(std::move(owned)), ws_(*owned_) {}

  async::Task<Result<std::string>> read() override {
    buf_.clear();
    beast::error_code ec;
    co_await ws_.async_read(buf_, asio::redirect_error(use_awaitable, ec));
    if (ec) co_return fail(ErrorCode::kUnavailable, "websocket-closed", ec.message());
    co_return beast::buffers_to_string(buf_.data());
  }
  async::Task<Status> write(std::string_view message) override {
    beast::error_code ec;
    ws_.binary(true);
    co_await ws_.async_write(asio::buffer(message.data(), message.size()), asio::redirect_error(use_awaitable, ec));
    if (ec) co_return fail(ErrorCode::kUnavailable, "websocket-closed", ec.message());
    co_return Status{};
  }
  async::Task<void> close(int code, std::string reason) override {
    beast::error_code ec;
    if (!ws_.is_open()) co_return;
    ws::close_reason why;
    why.code = static_cast<std::uint16_t>(code);
    why.reason = reason;
    co_await ws_.async_close(why, asio::redirect_error(use_awaitable, ec));
  }
  void abort() override {
    beast::error_code ec;
    auto& lowest = beast::get_lowest_layer(ws_.next_layer());
    lowest.socket().shutdown(tcp::socket::shutdown_both, ec);
    lowest.socket().close(ec);
  }
  int peer_close_code() const override { return static_cast<int>(ws_.reason().code); }

 private:
  std::shared_ptr<asio::ssl::context> tls_;  // owned_'s TLS context (client)
  std::unique_ptr<WS> owned_;
  WS& ws_;
  beast::flat_buffer buf_;
};

// Tells the handler that the server is shutting down: registered among the live streams, which
// begin_shutdown cancels on their executors.
class GoingAway final : public async::Stream {
 public:
  explicit GoingAway(WsHandler& h) : h_(h) {}
  async::Task<bool> next(std::string&) override { co_return false; }
  void cancel() override { h_.going_away(); }

 private:
  WsHandler& h_;
};

struct Url {
  bool tls = false;
  std::string host, port, target;
};

Result<Url> parse_url(const std::string& url) {
  Url u;
  std::string_view rest = url;
  auto take = [&](std::string_view p) {
    if (!rest.starts_with(p)) return false;
    rest.remove_prefix(p.size());
    return true;
  };
  if (take("https://") || take("wss://")) {
    u.tls = true;
  } else if (!(take("http://") || take("ws://"))) {
    return invalid("the server URL must start with http://, https://, ws:// or wss://");
  }
  auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  u.target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  auto colon = authority.rfind(':');
  if (colon != std::string_view::npos && authority.find(']', colon) == std::string_view::npos) {
    u.host = std::string(authority.substr(0, colon));
    u.port = std::string(authority.substr(colon + 1));
  } else {
    u.host = std::string(authority);
    u.port = u.tls ? "443" : "80";
  }
  if (u.host.size() > 2 && u.host.front() == '[' && u.host.back() == ']') u.host = u.host.substr(1, u.host.size() - 2);
  if (u.host.empty() || u.port.empty()) return invalid("no host in the server URL");
  return u;
}

template <typename WS>
async::Task<Result<std::unique_ptr<WsChannel>>> upgrade(std::unique_ptr<WS> sock, std::shared_ptr<asio::ssl::context> tls,
                                                        const Url& u, const WsClientOptions& o) {
  beast::get_lowest_layer(*sock).expires_never();  // the WebSocket's own timeouts from here on
  auto timeouts = ws::stream_base::timeout::suggested(beast::role_type::client);
  timeouts.handshake_timeout = std::chrono::milliseconds(o.connect_timeout);
  timeouts.idle_timeout = std::chrono::milliseconds(o.idle_timeout);
  timeouts.keep_alive_pings = true;
  sock->set_option(timeouts);
  sock->set_option(ws::stream_base::decorator([&o](ws::request_type& req) {
    req.set(beast::http::field::user_agent, "atrium");
    for (auto& [k, v] : o.headers) req.set(k, v);
  }));
  sock->read_message_max(o.max_message);
  ws::response_type res;
  beast::error_code ec;
  bool default_port = u.port == (u.tls ? "443" : "80");
  std::string host = (u.host.find(':') != std::string::npos ? "[" + u.host + "]" : u.host) +
                     (default_port ? "" : ":" + u.port);
  co_await sock->async_handshake(res, host, u.target, asio::redirect_error(use_awaitable, ec));
  if (ec) {
    int status = res.result_int();
    if (status != 0 && status != 101)
      co_return fail(Error(ErrorCode::kUnavailable, "websocket-refused",
                           "the server answered " + std::to_string(status))
                         .with("http_status", status));
    co_return fail(ErrorCode::kUnavailable, "websocket-failed", "WebSocket handshake: " + ec.message());
  }
  sock->binary(true);
  co_return std::make_unique<BeastChannel<WS>>(std::move(sock), std::move(tls));
}

}  // namespace

// ---- the server side

template <typename Stream>
awaitable<void> Server::Impl::run_ws_handler(Stream& stream, const StringRequest& msg, const Response& r,
                                             const std::string& rid) {
  ws::stream<Stream&> sock(stream);
  beast::get_lowest_layer(stream).expires_never();  // the WebSocket's own timeouts from here on
  auto timeouts = ws::stream_base::timeout::suggested(beast::role_type::server);
  timeouts.idle_timeout = std::chrono::seconds(settings.idle_timeout_s);
  timeouts.keep_alive_pings = true;
  sock.set_option(timeouts);
  sock.set_option(ws::stream_base::decorator([&](ws::response_type& res) {
    res.set("X-Request-Id", rid);
    for (auto& [k, v] : r.headers) res.insert(k, v);
  }));
  sock.read_message_max(1 << 20);
  beast::error_code ec;
  co_await sock.async_accept(msg, asio::redirect_error(use_awaitable, ec));
  if (ec) co_return;
  BeastChannel<ws::stream<Stream&>> channel(sock);
  GoingAway hook(*r.ws_handler);
  auto ex = co_await asio::this_coro::executor;
  {
    std::lock_guard lk(conns_mu);
    live_streams.emplace(&hook, ex);
  }
  if (draining) r.ws_handler->going_away();
  try {
    co_await r.ws_handler->run(channel);
  } catch (const std::exception& e) {
    spdlog::error("request {}: WebSocket handler: {}", rid, e.what());
  }
  {
    std::lock_guard lk(conns_mu);
    live_streams.erase(&hook);
  }
  if (sock.is_open()) {  // the handler ended without a close: one, briefly (the peer may be gone)
    timeouts.handshake_timeout = std::chrono::seconds(2);
    sock.set_option(timeouts);
    ws::close_reason why(draining ? ws::close_code::going_away : ws::close_code::normal);
    co_await sock.async_close(why, asio::redirect_error(use_awaitable, ec));
  }
}

template awaitable<void> Server::Impl::run_ws_handler(PlainStream&, const StringRequest&, const Response&,
                                                      const std::string&);
template awaitable<void> Server::Impl::run_ws_handler(TlsStream&, const StringRequest&, const Response&,
                                                      const std::string&);

// ---- the client

async::Task<Result<std::unique_ptr<WsChannel>>> ws_connect(WsClientOptions o) {
  auto u = parse_url(o.url);
  if (!u) co_return std::unexpected(u.error());
  auto ex = co_await asio::this_coro::executor;
  tcp::resolver resolver(ex);
  beast::error_code ec;
  auto found = co_await resolver.async_resolve(u->host, u->port, asio::redirect_error(use_awaitable, ec));
  if (ec) co_return fail(ErrorCode::kUnavailable, "websocket-failed", "resolving " + u->host + ": " + ec.message());
  const auto deadline = std::chrono::milliseconds(o.connect_timeout);
  if (!u->tls) {
    auto sock = std::make_unique<ws::stream<beast::tcp_stream>>(ex);
    beast::get_lowest_layer(*sock).expires_after(deadline);
    co_await beast::get_lowest_layer(*sock).async_connect(found, asio::redirect_error(use_awaitable, ec));
    if (ec) co_return fail(ErrorCode::kUnavailable, "websocket-failed", "connecting: " + ec.message());
    co_return co_await upgrade(std::move(sock), nullptr, *u, o);
  }
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  if (o.insecure) {
    ctx->set_verify_mode(asio::ssl::verify_none);
  } else {
    ctx->set_default_verify_paths();
    ctx->set_verify_mode(asio::ssl::verify_peer);
  }
  using TlsWs = ws::stream<beast::ssl_stream<beast::tcp_stream>>;
  auto sock = std::make_unique<TlsWs>(ex, *ctx);
  if (!o.insecure) sock->next_layer().set_verify_callback(asio::ssl::host_name_verification(u->host));
  SSL_set_tlsext_host_name(sock->next_layer().native_handle(), u->host.c_str());
  beast::get_lowest_layer(*sock).expires_after(deadline);
  co_await beast::get_lowest_layer(*sock).async_connect(found, asio::redirect_error(use_awaitable, ec));
  if (ec) co_return fail(ErrorCode::kUnavailable, "websocket-failed", "connecting: " + ec.message());
  co_await sock->next_layer().async_handshake(asio::ssl::stream_base::client, asio::redirect_error(use_awaitable, ec));
  if (ec) co_return fail(ErrorCode::kUnavailable, "websocket-failed", "TLS: " + ec.message());
  co_return co_await upgrade(std::move(sock), std::move(ctx), *u, o);
}

}  // namespace atrium::http
