// Helpers for the tunnel's tests: an in-memory WsChannel pair, an app on a unix socket, and
// coroutine helpers to read and write whole buffers.
#pragma once

#include <utility>  // must precede Asio with g++ 12 + Boost 1.74 coroutines

#include <deque>
#include <filesystem>
#include <memory>
#include <string>

#include <boost/asio.hpp>

#include "http/ws_channel.hpp"
#include "tunnel/mux.hpp"

namespace atrium::tunnel::testing {

namespace asio = boost::asio;
using asio::use_awaitable;
using error_code = boost::system::error_code;

// One direction of an in-memory WebSocket.
struct MemPipe {
  explicit MemPipe(const asio::any_io_executor& ex) : sig(ex) {}
  std::deque<std::string> q;
  bool closed = false;
  int close_code = 0;
  asio::steady_timer sig;
  void notify() { sig.cancel(); }
};

class MemChannel final : public http::WsChannel {
 public:
  MemChannel(std::shared_ptr<MemPipe> in, std::shared_ptr<MemPipe> out) : in_(std::move(in)), out_(std::move(out)) {}
  async::Task<Result<std::string>> read() override {
    while (in_->q.empty() && !in_->closed) {
      in_->sig.expires_at(asio::steady_timer::time_point::max());
      error_code ec;
      co_await in_->sig.async_wait(asio::redirect_error(use_awaitable, ec));
    }
    if (in_->q.empty()) co_return fail(ErrorCode::kUnavailable, "closed", "closed");
    std::string m = std::move(in_->q.front());
    in_->q.pop_front();
    co_return m;
  }
  async::Task<Status> write(std::string_view m) override {
    if (out_->closed) co_return fail(ErrorCode::kUnavailable, "closed", "closed");
    out_->q.emplace_back(m);
    out_->notify();
    bytes_written += m.size();
    co_return Status{};
  }
  async::Task<void> close(int code, std::string) override {
    if (!out_->closed) out_->close_code = code;
    abort();
    co_return;
  }
  void abort() override {
    out_->closed = in_->closed = true;
    out_->notify();
    in_->notify();
  }
  int peer_close_code() const override { return in_->close_code; }
  std::size_t bytes_written = 0;

 private:
  std::shared_ptr<MemPipe> in_, out_;
};

inline std::pair<std::unique_ptr<MemChannel>, std::unique_ptr<MemChannel>> mem_pair(const asio::any_io_executor& ex) {
  auto a = std::make_shared<MemPipe>(ex), b = std::make_shared<MemPipe>(ex);
  return {std::make_unique<MemChannel>(a, b), std::make_unique<MemChannel>(b, a)};
}

// Reads until EOF (or an error), at most `max` bytes.
inline async::Task<std::string> read_all(UnixSocket& s, std::size_t max = 1 << 30) {
  std::string out;
  char buf[65536];
  for (;;) {
    error_code ec;
    std::size_t n = co_await s.async_read_some(asio::buffer(buf), asio::redirect_error(use_awaitable, ec));
    out.append(buf, n);
    if (ec || out.size() >= max) co_return out;
  }
}

inline async::Task<bool> write_all(UnixSocket& s, const std::string& data) {
  error_code ec;
  co_await asio::async_write(s, asio::buffer(data), asio::redirect_error(use_awaitable, ec));
  co_return !ec;
}

// An app on a unix socket: each connection is echoed back (until EOF, then closed), unless it
// starts with "BIG <n>\n": then n bytes are sent and the connection closed.
class EchoApp {
 public:
  EchoApp(const asio::any_io_executor& ex, const std::filesystem::path& path) : acceptor_(ex), path_(path) {
    std::filesystem::remove(path);
    acceptor_.open(asio::local::stream_protocol());
    acceptor_.bind(asio::local::stream_protocol::endpoint(path.string()));
    acceptor_.listen();
    asio::co_spawn(ex, loop(), asio::detached);
  }
  void stop() {
    error_code ec;
    acceptor_.close(ec);
  }
  int accepted = 0;

 private:
  async::Task<void> loop() {
    for (;;) {
      auto s = std::make_shared<UnixSocket>(acceptor_.get_executor());
      error_code ec;
      co_await acceptor_.async_accept(*s, asio::redirect_error(use_awaitable, ec));
      if (ec) co_return;
      ++accepted;
      asio::co_spawn(acceptor_.get_executor(), serve(s), asio::detached);
    }
  }
  static async::Task<void> serve(std::shared_ptr<UnixSocket> s) {
    char buf[65536];
    bool first = true;
    for (;;) {
      error_code ec;
      std::size_t n = co_await s->async_read_some(asio::buffer(buf), asio::redirect_error(use_awaitable, ec));
      if (first && n > 4 && std::string_view(buf, 4) == "BIG ") {
        std::size_t want = std::stoul(std::string(buf + 4, n - 4));
        std::string data(want, '\0');
        for (std::size_t i = 0; i < want; ++i) data[i] = static_cast<char>('a' + i % 26);
        co_await write_all(*s, data);
        s->close(ec);
        co_return;
      }
      first = false;
      if (n > 0 && !co_await write_all(*s, std::string(buf, n))) co_return;
      if (ec) {
        s->shutdown(UnixSocket::shutdown_send, ec);
        co_return;
      }
    }
  }
  asio::local::stream_protocol::acceptor acceptor_;
  std::filesystem::path path_;
};

}  // namespace atrium::tunnel::testing
