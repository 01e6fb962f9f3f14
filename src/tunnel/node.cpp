// `atrium tunnel` (node.hpp).
#include <utility>  // must precede Asio with g++ 12 + Boost 1.74 coroutines

#include "tunnel/node.hpp"

#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <iostream>

#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "core/dir.hpp"
#include "core/files.hpp"
#include "http/ws_channel.hpp"

namespace atrium::tunnel {

namespace asio = boost::asio;
using asio::use_awaitable;
using error_code = boost::system::error_code;

struct Node::Timer {
  asio::steady_timer t;
  explicit Timer(const asio::any_io_executor& ex) : t(ex) {}
};

Node::Node(NodeOptions options, asio::any_io_executor ex)
    : o_(std::move(options)), ex_(ex), timer_(std::make_unique<Timer>(ex)) {}

Node::~Node() = default;

async::Task<void> Node::sleep(Millis ms) {
  timer_->t.expires_after(std::chrono::milliseconds(ms));
  error_code ec;
  co_await timer_->t.async_wait(asio::redirect_error(use_awaitable, ec));
}

void Node::stop() {
  stopped_ = true;
  if (mux_) mux_->close(1000, "the node's tunnel is stopping");
  timer_->t.cancel();
}

namespace {

void say(const std::string& job, const std::string& what) { std::cerr << "atrium tunnel " << job << ": " << what << "\n"; }

// The app's socket as a path connect() may use: that very inode (proc path of an O_PATH fd),
// checked to be a socket (not a link) of its directory's owner, so that a link or another
// user's socket planted in the app's place is never reached with this process's rights.
Result<Dir::SocketAddress> app_address(const std::string& path) {
  std::filesystem::path p(path);
  struct stat dst {};
  if (::lstat(p.parent_path().c_str(), &dst) != 0 || !S_ISDIR(dst.st_mode))
    return fail(ErrorCode::kUnavailable, "app-unreachable", "no directory " + p.parent_path().string());
  auto fd = TRY(Dir::open_socket_at(p, dst.st_uid));
  Dir::SocketAddress a;
  a.path = Dir::proc_path(fd.get());
  a.hold = std::move(fd);
  return a;
}

}  // namespace

async::Task<std::optional<UnixSocket>> Node::connect_app(std::function<bool()> gone) {
  auto start = std::chrono::steady_clock::now();
  Millis delay = 20;
  asio::steady_timer wait(ex_);
  for (;;) {
    auto addr = app_address(o_.app_socket);
    if (addr) {
      UnixSocket s(ex_);
      error_code ec;
      co_await s.async_connect(asio::local::stream_protocol::endpoint(addr->path),
                               asio::redirect_error(use_awaitable, ec));
      if (!ec) co_return std::move(s);
    }
    auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    if (gone() || stopped_ || waited.count() >= o_.app_wait) co_return std::nullopt;
    wait.expires_after(std::chrono::milliseconds(delay));
    error_code ec;
    co_await wait.async_wait(asio::redirect_error(use_awaitable, ec));
    delay = std::min<Millis>(delay * 2, 500);
  }
}

async::Task<int> Node::run() {
  std::string base = o_.server;
  while (!base.empty() && base.back() == '/') base.pop_back();
  Millis backoff = o_.backoff_min;
  while (!stopped_) {
    auto token = read_token_file(o_.token_file);
    if (!token) {
      say(o_.job_id, "reading the token: " + token.error().detail);
      co_return kNodeRefused;
    }
    http::WsClientOptions w;
    w.url = base + "/api/v1/exec/jobs/" + o_.job_id + "/tunnel";
    w.headers.emplace_back("Authorization", "Bearer " + *token);
    w.insecure = o_.insecure;
    w.max_message = o_.mux.chunk + 64;
    auto ch = co_await http::ws_connect(std::move(w));
    if (stopped_) break;
    if (!ch) {
      int status = ch.error().extra.value("http_status", 0);
      if (status == 401 || status == 403 || status == 404 || status == 410) {
        say(o_.job_id, "the server refused the tunnel (" + std::to_string(status) + "): stopping");
        co_return kNodeRefused;
      }
      say(o_.job_id, ch.error().detail + "; again in " + std::to_string(backoff / 1000) + " s");
      co_await sleep(backoff);
      backoff = std::min(backoff * 2, o_.backoff_max);
      continue;
    }
    ++connects_;
    backoff = o_.backoff_min;
    {
      Mux mux(**ch, ex_, o_.mux, [this](std::function<bool()> gone) { return connect_app(std::move(gone)); });
      mux_ = &mux;
      co_await mux.run();
      mux_ = nullptr;
    }
    int code = (*ch)->peer_close_code();
    if (code == kJobEnded || code == kReplaced) {
      say(o_.job_id, code == kJobEnded ? "the job ended" : "another tunnel replaced this one");
      co_return 0;
    }
    if (stopped_) break;
    say(o_.job_id, "the connection dropped; again in " + std::to_string(backoff / 1000) + " s");
    co_await sleep(backoff);
  }
  co_return 0;
}

void add_tunnel_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<NodeOptions>();
  auto* cmd = app.add_subcommand("tunnel", "Connect an environment on this node to the server (one outbound WebSocket)");
  cmd->add_option("--server", o->server, "The server's URL (http:// or https://)")->required();
  cmd->add_option("--token-file", o->token_file, "The job's exec token (a file: never on the command line)")->required();
  cmd->add_option("--job", o->job_id, "The job's id")->required();
  cmd->add_option("--socket", o->app_socket, "The app's unix socket")->required();
  cmd->add_flag("--insecure", o->insecure, "Do not verify the server's TLS certificate (tests only)");
  cmd->callback([o, &exit_code] {
    asio::io_context io;
    Node node(*o, io.get_executor());
    asio::signal_set signals(io, SIGTERM, SIGINT);
    asio::steady_timer grace(io);
    signals.async_wait([&](const error_code& ec, int) {
      if (ec) return;
      node.stop();
      grace.expires_after(std::chrono::seconds(3));  // a close that is not answered does not hold us
      grace.async_wait([&](const error_code& gec) {
        if (!gec) io.stop();
      });
    });
    asio::co_spawn(io, node.run(), [&](std::exception_ptr e, int rc) {
      exit_code = e ? 1 : rc;
      signals.cancel();
      grace.cancel();
      io.stop();
    });
    io.run();
  });
}

}  // namespace atrium::tunnel
