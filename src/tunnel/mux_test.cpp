// The multiplexer, both ends in one process over an in-memory WebSocket: many streams, large
// transfers, a slow reader that stalls only itself, half-close, reset, the tunnel's end.
#include <utility>  // must precede Asio with g++ 12 + Boost 1.74 coroutines

#include "tunnel/mux.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <functional>

#include "tunnel/test_support.hpp"

namespace atrium::tunnel {
namespace {

using namespace testing;
namespace fs = std::filesystem;

std::string pattern(std::size_t n, int seed) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 7 + seed) % 251);
  return s;
}

class MuxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("mux_test." + std::to_string(::getpid()));
    fs::create_directories(dir_);
    app_path_ = dir_ / "app.sock";
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Runs `body` with a server mux and a node mux joined by memory, the node's streams going to
  // an EchoApp; fails when it takes longer than 30 s.
  void run(std::function<async::Task<void>(Mux& server, Mux& node)> body, MuxOptions opts = {}) {
    asio::io_context io;
    auto ex = io.get_executor();
    app_ = std::make_unique<EchoApp>(ex, app_path_);
    auto [a, b] = mem_pair(ex);
    server_chan_ = a.get();
    node_chan_ = b.get();
    Mux server(*a, ex, opts);
    Mux node(*b, ex, opts, [this, ex](std::function<bool()>) -> async::Task<std::optional<UnixSocket>> {
      UnixSocket s(ex);
      error_code ec;
      co_await s.async_connect(asio::local::stream_protocol::endpoint(app_path_.string()),
                               asio::redirect_error(use_awaitable, ec));
      if (ec) co_return std::nullopt;
      co_return std::move(s);
    });
    bool done = false, server_done = false, node_done = false;
    auto finish = [&] {
      if (done && server_done && node_done) io.stop();
    };
    asio::co_spawn(ex, server.run(), [&](std::exception_ptr) {
      server_done = true;
      finish();
    });
    asio::co_spawn(ex, node.run(), [&](std::exception_ptr) {
      node_done = true;
      finish();
    });
    asio::co_spawn(ex, body(server, node), [&](std::exception_ptr e) {
      done = true;
      if (e) ADD_FAILURE() << "the test body threw";
      server.close(1000, "done");
      finish();
    });
    io.run_for(std::chrono::seconds(30));
    EXPECT_TRUE(done) << "timed out";
    EXPECT_TRUE(server_done && node_done) << "run() did not return after close";
    app_.reset();
  }

  // A client connection through the server's end.
  static UnixSocket open(Mux& server, const asio::any_io_executor& ex) {
    UnixSocket mine(ex), theirs(ex);
    asio::local::connect_pair(mine, theirs);
    EXPECT_TRUE(server.add(std::move(theirs)));
    return mine;
  }

  fs::path dir_, app_path_;
  std::unique_ptr<EchoApp> app_;
  MemChannel* server_chan_ = nullptr;
  MemChannel* node_chan_ = nullptr;
};

TEST(Frames, EncodeDecodeRoundTrip) {
  auto m = encode(Type::kData, 0x01020304, "abc");
  ASSERT_EQ(m.size(), 8u);
  EXPECT_EQ(m.substr(0, 5), std::string("\x02\x01\x02\x03\x04", 5));
  auto f = decode(m);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->type, Type::kData);
  EXPECT_EQ(f->stream, 0x01020304u);
  EXPECT_EQ(f->payload, "abc");
  auto w = decode(encode_window(7, 300000));
  ASSERT_TRUE(w && w->type == Type::kWindow && w->payload.size() == 4);
  EXPECT_FALSE(decode("\x02\x00\x00"));               // too short
  EXPECT_FALSE(decode(std::string("\x09\0\0\0\1", 5)));  // unknown type
}

async::Task<void> send_and_close(UnixSocket& s, std::string data) {
  co_await write_all(s, data);
  error_code ec;
  s.shutdown(UnixSocket::shutdown_send, ec);
}

// One echo round through the server's end: true when the answer is what was sent.
async::Task<void> echo_round(Mux& server, std::size_t size, int seed, int* ok, int* finished, asio::steady_timer* all) {
  auto ex = co_await asio::this_coro::executor;
  UnixSocket mine(ex), theirs(ex);
  asio::local::connect_pair(mine, theirs);
  EXPECT_TRUE(server.add(std::move(theirs)));
  auto data = pattern(size, seed);
  asio::co_spawn(ex, send_and_close(mine, data), asio::detached);
  auto got = co_await read_all(mine);
  if (got == data) ++*ok;
  ++*finished;
  all->cancel();
}

// Many streams at once, each echoed whole and in order; 8 MiB through one of them.
TEST_F(MuxTest, ManyStreamsAndALargeTransferEchoIntact) {
  run([this](Mux& server, Mux&) -> async::Task<void> {
    auto ex = co_await asio::this_coro::executor;
    int ok = 0, finished = 0;
    constexpr int kStreams = 40;
    asio::steady_timer all(ex, asio::steady_timer::time_point::max());
    for (int i = 0; i < kStreams; ++i)
      asio::co_spawn(ex, echo_round(server, i == 0 ? (8u << 20) : 50'000u + i * 1000u, i, &ok, &finished, &all),
                     asio::detached);
    error_code ec;
    while (finished < kStreams) {
      all.expires_at(asio::steady_timer::time_point::max());
      co_await all.async_wait(asio::redirect_error(use_awaitable, ec));
    }
    EXPECT_EQ(ok, kStreams);
    EXPECT_EQ(app_->accepted, kStreams);
  });
}

// A stream whose client does not read stops only itself: the others go on, and what the app
// sent for it waits within the window (the app's writes block) until the client reads.
TEST_F(MuxTest, ASlowReaderStallsOnlyItsOwnStream) {
  MuxOptions opts;
  opts.window = 64 * 1024;
  run(
      [this](Mux& server, Mux&) -> async::Task<void> {
        auto ex = co_await asio::this_coro::executor;
        constexpr std::size_t kBig = 16u << 20;
        auto slow = open(server, ex);
        co_await write_all(slow, "BIG " + std::to_string(kBig));
        // Meanwhile 20 echo streams complete.
        for (int i = 0; i < 20; ++i) {
          auto s = open(server, ex);
          auto data = pattern(100'000, i);
          co_await write_all(s, data);
          error_code ec;
          s.shutdown(UnixSocket::shutdown_send, ec);
          EXPECT_EQ(co_await read_all(s), data);
        }
        // The slow stream's bytes are still on the app's side: what crossed the tunnel for it is
        // the window plus what the sockets buffer, far from its 16 MiB.
        EXPECT_GT(server.stream_count(), 0u);
        EXPECT_LT(node_chan_->bytes_written, 20u * 100'000u + (2u << 20));
        auto got = co_await read_all(slow);
        EXPECT_EQ(got.size(), kBig);
        EXPECT_EQ(got.substr(0, 26), "abcdefghijklmnopqrstuvwxyz");
      },
      opts);
}

// A half-close passes through: the app sees EOF, answers, and the client reads the answer.
TEST_F(MuxTest, HalfCloseThenAnswer) {
  run([](Mux& server, Mux&) -> async::Task<void> {
    auto ex = co_await asio::this_coro::executor;
    auto s = open(server, ex);
    co_await write_all(s, "hello");
    error_code ec;
    s.shutdown(UnixSocket::shutdown_send, ec);
    EXPECT_EQ(co_await read_all(s), "hello");
    asio::steady_timer t(ex);
    while (server.stream_count() > 0) {  // both directions done: the stream is gone at both ends
      t.expires_after(std::chrono::milliseconds(5));
      co_await t.async_wait(asio::redirect_error(use_awaitable, ec));
    }
  });
}

// No app (its socket missing): the stream is reset and the client sees the end at once.
TEST_F(MuxTest, NoAppResetsTheStream) {
  run([this](Mux& server, Mux&) -> async::Task<void> {
    app_->stop();
    fs::remove(app_path_);
    auto ex = co_await asio::this_coro::executor;
    auto s = open(server, ex);
    co_await write_all(s, "GET / HTTP/1.1\r\n\r\n");
    EXPECT_EQ(co_await read_all(s), "");
    EXPECT_EQ(server.stream_count(), 0u);
  });
}

// A client that closes while the app still writes: the stream is reset on both sides.
TEST_F(MuxTest, ClientGoneResetsTheStream) {
  run([this](Mux& server, Mux& node) -> async::Task<void> {
    auto ex = co_await asio::this_coro::executor;
    {
      auto s = open(server, ex);
      co_await write_all(s, "BIG " + std::to_string(64u << 20));
      char c[1000];
      error_code ec;
      co_await asio::async_read(s, asio::buffer(c), asio::redirect_error(use_awaitable, ec));
      EXPECT_FALSE(ec);
    }  // closed here, the app still sending
    asio::steady_timer t(ex);
    error_code ec;
    while (server.stream_count() + node.stream_count() > 0) {
      t.expires_after(std::chrono::milliseconds(5));
      co_await t.async_wait(asio::redirect_error(use_awaitable, ec));
    }
    (void)app_;
  });
}

// Past max_streams the server's end refuses the connection; the WebSocket's end ends every stream.
TEST_F(MuxTest, StreamCapAndTunnelEnd) {
  MuxOptions opts;
  opts.max_streams = 2;
  run(
      [](Mux& server, Mux&) -> async::Task<void> {
        auto ex = co_await asio::this_coro::executor;
        auto a = open(server, ex);
        auto b = open(server, ex);
        UnixSocket mine(ex), theirs(ex);
        asio::local::connect_pair(mine, theirs);
        EXPECT_FALSE(server.add(std::move(theirs)));
        server.close(4000, "job ended");
        EXPECT_EQ(co_await read_all(a), "");
        EXPECT_EQ(co_await read_all(b), "");
      },
      opts);
}

async::Task<void> overrun(Mux& server, http::WsChannel& peer) {
  auto ex = co_await asio::this_coro::executor;
  UnixSocket mine(ex), theirs(ex);
  asio::local::connect_pair(mine, theirs);
  server.add(std::move(theirs));
  auto open_msg = co_await peer.read();
  EXPECT_TRUE(open_msg && decode(*open_msg)->type == Type::kOpen);
  (void)co_await peer.write(encode(Type::kData, 1, std::string(1200, 'x')));  // 1200 > the window of 1000
  bool reset = false;
  for (int i = 0; i < 10 && !reset; ++i) {
    auto m = co_await peer.read();
    if (!m) break;
    auto f = decode(*m);
    reset = f && f->type == Type::kClose && f->payload == std::string_view("\x01", 1);
  }
  EXPECT_TRUE(reset);
  EXPECT_EQ(server.stream_count(), 0u);
  (void)co_await peer.write("\x07junk");  // not the protocol: the tunnel ends
}

// A peer that sends beyond the window gets the stream reset (not unbounded buffering).
TEST(MuxProtocol, DataBeyondTheWindowResetsTheStream) {
  asio::io_context io;
  auto ex = io.get_executor();
  auto [a, b] = mem_pair(ex);
  MuxOptions opts;
  opts.window = 1000;
  Mux server(*a, ex, opts);
  bool done = false;
  asio::co_spawn(ex, server.run(), [&](std::exception_ptr) {
    done = true;
    io.stop();
  });
  asio::co_spawn(ex, overrun(server, *b), asio::detached);
  io.run_for(std::chrono::seconds(10));
  EXPECT_TRUE(done);
}

}  // namespace
}  // namespace atrium::tunnel
