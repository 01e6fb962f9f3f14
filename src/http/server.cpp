// The server's frame: binding, the I/O threads, the accept loop, one coroutine per connection
// (plain or TLS), and the graceful shutdown. A connection's requests: session.cpp.
#include <utility>  // must precede Asio with g++ 12 + Boost 1.74 coroutines

#include "http/server.hpp"

#include <csignal>

#include <spdlog/spdlog.h>

#include "core/crypto.hpp"
#include "core/io_thread.hpp"
#include "http/detail/server_impl.hpp"

namespace atrium::http {

using namespace detail;

Server::Impl::Impl(ServerSettings s, Api& a, obs::Metrics& m, async::Runtime& runtime)
    : settings(std::move(s)), api(a), metrics(m), io(std::max(1, settings.io_threads)), rt(runtime) {
  rid_prefix = crypto::hex(crypto::random_bytes(4));
}

std::string Server::Impl::remote_of(tcp::socket& s) {
  beast::error_code ec;
  auto ep = s.remote_endpoint(ec);
  return ec ? std::string("unknown") : ep.address().to_string();
}

awaitable<void> Server::Impl::run_plain(tcp::socket sock, std::shared_ptr<Conn> conn) {
  std::string ip = remote_of(sock);
  beast::tcp_stream stream(std::move(sock));
  conn->cancel = [&stream] { stream.socket().close(); };
  try {
    co_await session(stream, conn, ip, false);
  } catch (const std::exception& e) {
    spdlog::debug("connection from {} ended: {}", ip, e.what());
  }
  beast::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  conn->cancel = nullptr;
}

awaitable<void> Server::Impl::run_tls(tcp::socket sock, std::shared_ptr<Conn> conn) {
  std::string ip = remote_of(sock);
  TlsStream stream(beast::tcp_stream(std::move(sock)), *ssl);
  conn->cancel = [&stream] { beast::get_lowest_layer(stream).socket().close(); };
  try {
    expire_in(beast::get_lowest_layer(stream), *conn, settings.header_timeout_s);
    co_await stream.async_handshake(asio::ssl::stream_base::server, use_awaitable);
    co_await session(stream, conn, ip, true);
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(2));
    beast::error_code ec;
    co_await stream.async_shutdown(asio::redirect_error(use_awaitable, ec));
  } catch (const std::exception& e) {
    spdlog::debug("TLS connection from {} ended: {}", ip, e.what());
  }
  conn->cancel = nullptr;
}

awaitable<void> Server::Impl::accept_loop() {
  for (;;) {
    beast::error_code ec;
    auto strand = asio::make_strand(io);
    tcp::socket sock(strand);
    co_await acceptor.async_accept(sock, asio::redirect_error(use_awaitable, ec));
    if (ec) {
      if (!acceptor.is_open() || draining) co_return;
      spdlog::warn("accept failed: {}", ec.message());
      continue;
    }
    sock.set_option(tcp::no_delay(true), ec);
    auto conn = std::make_shared<Conn>(strand);
    conn->ip = remote_of(sock);
    if (settings.preauth_timeout_s > 0) conn->preauth_ms = Millis{settings.preauth_timeout_s} * 1000;
    {
      std::lock_guard lock(conns_mu);
      if (!take_slot_locked(conn)) {
        refuse_busy(sock);  // over a cap: answered without waiting, and closed
        continue;
      }
      conns.insert(conn);
    }
    metrics.connection_opened();
    auto on_done = [this, conn](std::exception_ptr) { connection_ended(conn); };
    if (ssl)
      asio::co_spawn(strand, run_tls(std::move(sock), conn), on_done);
    else
      asio::co_spawn(strand, run_plain(std::move(sock), conn), on_done);
  }
}

void Server::Impl::connection_ended(const std::shared_ptr<Conn>& conn) {
  metrics.connection_closed();
  bool last = false;
  {
    std::lock_guard lock(conns_mu);
    release_slot_locked(*conn);
    conns.erase(conn);
    last = conns.empty();
  }
  // The drain checks for connections under conns_mu before each wait on the strand, so this
  // wake-up cannot fall between its check and its wait.
  if (last && draining) asio::post(shutdown_strand, [this] { drain_timer.cancel(); });
}

// ---- shutdown

void Server::Impl::begin_shutdown() {
  if (draining.exchange(true)) return;
  // Until the drain is spawned, io must not run out of work (the acceptor's close below can end
  // its last pending operation, and run() would return before the drain ever runs).
  auto hold = asio::make_work_guard(io);
  spdlog::info("shutting down: no new connections, finishing in-flight requests");
  if (settings.on_drain) settings.on_drain();
  asio::post(io, [this] {
    beast::error_code ec;
    acceptor.close(ec);
    signals.cancel(ec);
  });
  close_idle();
  cancel_streams();
  asio::co_spawn(shutdown_strand, drain(), asio::detached);
}

// Waits (on shutdown_strand) until the last connection has ended or the grace period is over,
// then stops the I/O threads (what is left is closed with them) and lets wait() return. A
// connection that finishes its request while draining closes itself (sessions stop at draining).
awaitable<void> Server::Impl::drain() {
  drain_timer.expires_after(std::chrono::seconds(settings.shutdown_grace_s));
  for (;;) {
    {
      std::lock_guard lock(conns_mu);
      if (conns.empty()) break;
    }
    beast::error_code ec;
    co_await drain_timer.async_wait(asio::redirect_error(use_awaitable, ec));
    if (ec) continue;  // cancelled: the last connection ended (re-checked above)
    std::lock_guard lock(conns_mu);
    if (!conns.empty()) spdlog::warn("shutdown grace period over; closing remaining connections");
    break;
  }
  io.stop();
  {
    std::lock_guard lock(done_mu);
    done = true;
  }
  done_cv.notify_all();
}

void Server::Impl::close_idle() {
  std::lock_guard lock(conns_mu);
  for (auto& c : conns)
    if (!c->busy)
      asio::post(c->strand, [c] {
        if (!c->busy && c->cancel) c->cancel();
      });
}

// ---- Server

Server::Server(ServerSettings settings, Api& api, obs::Metrics& metrics, async::Runtime& rt)
    : impl_(std::make_unique<Impl>(std::move(settings), api, metrics, rt)) {}

Server::~Server() {
  if (impl_->io_threads) {
    impl_->io.stop();
    impl_->io_threads->join();
  }
}

namespace {

Status load_tls(asio::ssl::context& ctx, const ServerSettings& s) {
  beast::error_code ec;
  ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                  asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
  ctx.use_certificate_chain_file(s.tls_cert, ec);
  if (ec) return invalid("server.tls_cert: cannot load " + s.tls_cert + ": " + ec.message());
  ctx.use_private_key_file(s.tls_key, asio::ssl::context::pem, ec);
  if (ec) return invalid("server.tls_key: cannot load " + s.tls_key + ": " + ec.message());
  return {};
}

}  // namespace

Result<unsigned short> Server::start() {
  auto& s = impl_->settings;
  if (!s.tls_cert.empty()) {
    impl_->ssl = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    TRY_STATUS(load_tls(*impl_->ssl, s));
  }
  beast::error_code ec;
  auto addr = asio::ip::make_address(s.host, ec);
  if (ec) return invalid("server.listen: bad address '" + s.host + "'");
  tcp::endpoint ep(addr, s.port);
  auto& acc = impl_->acceptor;
  acc.open(ep.protocol(), ec);
  if (!ec) acc.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acc.bind(ep, ec);
  if (!ec) acc.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return fail(ErrorCode::kUnavailable, "listen",
                "cannot listen on " + s.host + ":" + std::to_string(s.port) + ": " + ec.message());
  unsigned short port = acc.local_endpoint().port();
  if (s.on_bound) s.on_bound(port);  // no I/O thread runs yet
  impl_->signals.add(SIGTERM);
  impl_->signals.add(SIGINT);
  impl_->signals.async_wait([this](const beast::error_code& e, int) {
    if (!e) impl_->begin_shutdown();
  });
  asio::co_spawn(impl_->io, impl_->accept_loop(), asio::detached);
  // One pool thread per I/O thread: each job runs io until it stops, so each holds its thread.
  const int n = std::max(1, s.io_threads);
  impl_->io_threads.emplace(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i)
    asio::post(*impl_->io_threads, [this] {
      mark_io_thread();
      impl_->io.run();
    });
  return port;
}

void Server::stop() { impl_->begin_shutdown(); }

void Server::wait() {
  {
    std::unique_lock lock(impl_->done_mu);
    impl_->done_cv.wait(lock, [this] { return impl_->done; });
  }
  if (impl_->io_threads) {
    impl_->io_threads->join();
    impl_->io_threads.reset();
  }
}

}  // namespace atrium::http
