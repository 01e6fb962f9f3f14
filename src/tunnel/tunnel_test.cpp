// The tunnel end to end in one process: the real HTTP server with the tunnel route (a test
// verify hook standing in for slurm's exec tokens), `atrium tunnel`'s Node connecting to it, an
// app on a unix socket, and clients on the tunnel's socket. Plus the attacks on the route.
#include <utility>  // must precede Asio with g++ 12 + Boost 1.74 coroutines

#include "tunnel/node.hpp"
#include "tunnel/service.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <future>
#include <thread>

#include "db/testing.hpp"
#include "http/api.hpp"
#include "http/server.hpp"
#include "obs/metrics.hpp"
#include "tunnel/test_support.hpp"

namespace atrium::tunnel {
namespace {

using namespace testing;
namespace fs = std::filesystem;

class NoGate final : public http::Gatekeeper {
 public:
  // A session cookie or an API token would be someone; the tunnel route must not care.
  Result<http::PrincipalPtr> authenticate(db::Tx&, const http::Request& req) override {
    if (req.header("authorization") || req.cookie("atrium_session")) {
      http::Principal p;
      p.user_id = "usr_1";
      p.session_id = "s1";
      return std::make_shared<const http::Principal>(p);
    }
    return http::PrincipalPtr{};
  }
  http::Decision decide(const http::Principal&, const http::Permission&, const http::Target&) const override {
    return http::Decision::kAllow;
  }
  bool token_allows(const http::Principal&, const http::Permission&) const override { return true; }
};

jobs::JobRecord job(const std::string& id) {
  jobs::JobRecord r;
  r.job.id = id;
  r.job.name = "env";
  r.job.assoc = {"org_a", "grp_1", "usr_1"};
  r.job.qos = "normal";
  r.job.request = {.cpus = 1, .mem_mb = 512, .gpus = 0, .time_limit = 3'600'000};
  r.project_id = "prj_1";
  r.argv = {"app"};
  r.partition = "cluster";
  return r;
}

// Polls `cond` (at most 20 s).
template <typename F>
bool eventually(F cond) {
  for (int i = 0; i < 4000; ++i) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return cond();
}

// A blocking client on a unix socket: sends `data`, half-closes, returns everything read.
std::string round_trip(const fs::path& sock, const std::string& data) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, sock.c_str(), sizeof(a.sun_path) - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    ::close(fd);
    return "<no connection>";
  }
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  std::thread writer([fd, &data] {  // the echo comes back while we write: read beside it
    std::size_t off = 0;
    while (off < data.size()) {
      ssize_t n = ::write(fd, data.data() + off, data.size() - off);
      if (n <= 0) break;
      off += static_cast<std::size_t>(n);
    }
    ::shutdown(fd, SHUT_WR);
  });
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  writer.join();
  ::close(fd);
  return out;
}

class TunnelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = db::open_test_db();
    dir_ = fs::path(::testing::TempDir()) / ("tunnel_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "run");
    ASSERT_TRUE(db_->migrate("http", http::Api::migrations()));
    ASSERT_TRUE(db_->migrate("jobs", jobs::migrations()));
    ASSERT_TRUE(db_->write_tx([&](db::Tx& tx) -> Status {
      for (auto id : {"job_env", "job_env2", "job_plain"}) TRY_STATUS(jobs::insert(tx, job(id)));
      TRY_STATUS(jobs::set_managed_by(tx, "job_env", "environment"));
      TRY_STATUS(jobs::set_managed_by(tx, "job_env2", "environment"));
      return {};
    }));
    Settings s;
    s.data_dir = dir_;
    s.verify = [this](const std::string& job_id, const std::string& token) -> Result<jobs::JobRecord> {
      ++verified_;
      // As slurm::Service::verify_exec_token: not_found whatever was wrong.
      if (token != "tok-" + job_id) return not_found("job");
      auto r = db_->read([&](db::Tx& tx) { return jobs::get(tx, job_id); });
      if (!r || !*r) return not_found("job");
      return **r;
    };
    svc_ = std::make_unique<Service>(*db_, rt_, s);
    api_ = std::make_unique<http::Api>(*db_, gate_, clock_, nullptr);
    svc_->add_routes(*api_);
    start_server(0);
    std::ofstream(dir_ / "token") << "tok-job_env\n";
    app_ = std::make_unique<EchoApp>(node_io_.get_executor(), dir_ / "run" / "app.sock");
    node_thread_ = std::thread([this] {
      auto guard = asio::make_work_guard(node_io_);
      node_io_.run();
    });
  }
  void TearDown() override {
    asio::post(node_io_, [this] { app_.reset(); });
    node_io_.stop();
    node_thread_.join();
    stop_server();
    rt_.stop();
    fs::remove_all(dir_);
  }
  void start_server(unsigned short port) {
    http::ServerSettings hs;
    hs.port = port;
    hs.idle_timeout_s = 30;
    server_ = std::make_unique<http::Server>(hs, *api_, metrics_, rt_);
    auto p = server_->start();
    ASSERT_TRUE(p);
    port_ = *p;
  }
  void stop_server() {
    if (!server_) return;
    server_->stop();
    server_->wait();
    server_.reset();
  }
  NodeOptions node_options(const std::string& job_id = "job_env") {
    NodeOptions o;
    o.server = "http://127.0.0.1:" + std::to_string(port_) + "/";
    o.token_file = (dir_ / "token").string();
    o.job_id = job_id;
    o.app_socket = (dir_ / "run" / "app.sock").string();
    o.backoff_min = 20;
    o.backoff_max = 100;
    return o;
  }
  // A Node running on the node's io_context; its exit code arrives in the future.
  struct Running {
    std::unique_ptr<Node> node;
    std::future<int> rc;
  };
  Running start_node(NodeOptions o) {
    Running r;
    r.node = std::make_unique<Node>(std::move(o), node_io_.get_executor());
    auto done = std::make_shared<std::promise<int>>();
    r.rc = done->get_future();
    asio::co_spawn(node_io_, r.node->run(), [done](std::exception_ptr e, int rc) { done->set_value(e ? -1 : rc); });
    return r;
  }
  void stop_node(Running& r) {
    asio::post(node_io_, [n = r.node.get()] { n->stop(); });
    ASSERT_EQ(r.rc.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  }
  // What the route answers a WebSocket upgrade with these headers (0: accepted).
  int upgrade_status(const std::string& job_id, std::vector<std::pair<std::string, std::string>> headers) {
    asio::io_context io;
    int status = -1;
    http::WsClientOptions o;
    o.url = "http://127.0.0.1:" + std::to_string(port_) + "/api/v1/exec/jobs/" + job_id + "/tunnel";
    o.headers = std::move(headers);
    asio::co_spawn(io, http::ws_connect(o), [&](std::exception_ptr, Result<std::unique_ptr<http::WsChannel>> r) {
      status = r ? 0 : r.error().extra.value("http_status", -2);
    });
    io.run();
    return status;
  }
  bool no_sockets() {
    if (!fs::exists(dir_ / "tunnels")) return true;
    for (auto& e : fs::directory_iterator(dir_ / "tunnels"))
      if (e.path().filename() != "victim.txt") return false;
    return true;
  }

  std::unique_ptr<db::SqliteDatabase> db_;
  fs::path dir_;
  async::Runtime rt_{2};
  NoGate gate_;
  SystemClock clock_;
  obs::Metrics metrics_;
  std::unique_ptr<Service> svc_;
  std::unique_ptr<http::Api> api_;
  std::unique_ptr<http::Server> server_;
  unsigned short port_ = 0;
  std::atomic<int> verified_{0};
  asio::io_context node_io_;
  std::thread node_thread_;
  std::unique_ptr<EchoApp> app_;
};

TEST_F(TunnelTest, NodeConnectsAndStreamsReachTheApp) {
  auto n = start_node(node_options());
  ASSERT_TRUE(eventually([&] { return svc_->socket_for("job_env").has_value(); }));
  auto sock = *svc_->socket_for("job_env");
  EXPECT_EQ(sock, dir_ / "tunnels" / "job_env.sock");
  struct stat st {};
  ASSERT_EQ(::lstat(sock.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_uid, ::geteuid());
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(round_trip(sock, "hello through the tunnel"), "hello through the tunnel");
  std::string big(3 << 20, 'x');
  for (std::size_t i = 0; i < big.size(); i += 4099) big[i] = static_cast<char>('a' + i % 26);
  EXPECT_TRUE(round_trip(sock, big) == big);
  EXPECT_FALSE(svc_->socket_for("job_env2"));
  stop_node(n);
  EXPECT_EQ(n.rc.get(), 0);
  // The node is gone: so is the socket.
  ASSERT_TRUE(eventually([&] { return !svc_->socket_for("job_env") && !fs::exists(sock); }));
}

// The app starts after the tunnel: a stream waits for its socket to appear.
TEST_F(TunnelTest, AStreamWaitsForTheAppToStart) {
  asio::post(node_io_, [this] { app_.reset(); });
  ASSERT_TRUE(eventually([&] { return !app_; }));
  fs::remove(dir_ / "run" / "app.sock");
  auto n = start_node(node_options());
  ASSERT_TRUE(eventually([&] { return svc_->socket_for("job_env").has_value(); }));
  auto answer = std::async(std::launch::async, [&] { return round_trip(*svc_->socket_for("job_env"), "late"); });
  asio::post(node_io_, [this] { app_ = std::make_unique<EchoApp>(node_io_.get_executor(), dir_ / "run" / "app.sock"); });
  EXPECT_EQ(answer.get(), "late");
  stop_node(n);
}

// A second tunnel for the job replaces the first, which stops (no reconnect storm).
TEST_F(TunnelTest, ASecondTunnelReplacesTheFirst) {
  auto first = start_node(node_options());
  ASSERT_TRUE(eventually([&] { return svc_->connected() == 1; }));
  auto second = start_node(node_options());
  ASSERT_EQ(first.rc.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(first.rc.get(), 0);
  ASSERT_TRUE(eventually([&] { return svc_->connected() == 1 && second.node->connects() == 1; }));
  EXPECT_EQ(round_trip(*svc_->socket_for("job_env"), "to the second"), "to the second");
  stop_node(second);
}

// The connection drops (the server restarts): the node reconnects and the socket comes back.
TEST_F(TunnelTest, TheNodeReconnectsAfterTheServerRestarts) {
  auto n = start_node(node_options());
  ASSERT_TRUE(eventually([&] { return svc_->socket_for("job_env").has_value(); }));
  unsigned short port = port_;
  stop_server();
  ASSERT_TRUE(eventually([&] { return !svc_->socket_for("job_env"); }));
  start_server(port);
  ASSERT_TRUE(eventually([&] { return svc_->socket_for("job_env").has_value(); }));
  EXPECT_TRUE(eventually([&] { return n.node->connects() >= 2; }));
  EXPECT_EQ(round_trip(*svc_->socket_for("job_env"), "again"), "again");
  stop_node(n);
}

// A refused token stops the node at once (exit 3), no retries.
TEST_F(TunnelTest, ARefusedTokenStopsTheNode) {
  std::ofstream(dir_ / "token") << "tok-job_env2\n";  // another job's
  int before = verified_;
  auto n = start_node(node_options());
  ASSERT_EQ(n.rc.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(n.rc.get(), kNodeRefused);
  EXPECT_EQ(verified_ - before, 1);  // asked once: no retries
  EXPECT_TRUE(no_sockets());
}

// Every credential but the job's own exec token is refused before any socket is made; so is a
// job that is not an environment's.
TEST_F(TunnelTest, TheRouteRefusesEverythingButTheJobsExecToken) {
  EXPECT_EQ(upgrade_status("job_env", {}), 401);
  EXPECT_EQ(upgrade_status("job_env", {{"Authorization", "Bearer wrong"}}), 404);
  EXPECT_EQ(upgrade_status("job_env", {{"Authorization", "Bearer tok-job_env2"}}), 404);  // another job's
  EXPECT_EQ(upgrade_status("job_env", {{"Authorization", "Bearer atr_some_api_token"}}), 404);
  EXPECT_EQ(upgrade_status("job_env", {{"Authorization", "Basic dXNyOnRvay1qb2JfZW52"}}), 401);
  EXPECT_EQ(upgrade_status("job_env", {{"Cookie", "atrium_session=abc"}}), 401);
  EXPECT_EQ(upgrade_status("job_plain", {{"Authorization", "Bearer tok-job_plain"}}), 403);
  EXPECT_EQ(upgrade_status("job_none", {{"Authorization", "Bearer tok-job_none"}}), 404);
  EXPECT_TRUE(no_sockets());
  EXPECT_FALSE(svc_->socket_for("job_env"));
  EXPECT_EQ(upgrade_status("job_env", {{"Authorization", "Bearer tok-job_env"}}), 0);
}

// A symlink planted where the socket goes is replaced, never followed.
TEST_F(TunnelTest, APlantedSymlinkIsReplacedNotFollowed) {
  fs::create_directories(dir_ / "tunnels");
  { std::ofstream(dir_ / "tunnels" / "victim.txt") << "keep me"; }
  fs::create_symlink(dir_ / "tunnels" / "victim.txt", dir_ / "tunnels" / "job_env.sock");
  auto n = start_node(node_options());
  ASSERT_TRUE(eventually([&] { return svc_->socket_for("job_env").has_value(); }));
  struct stat st {};
  ASSERT_EQ(::lstat((dir_ / "tunnels" / "job_env.sock").c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  std::ifstream in(dir_ / "tunnels" / "victim.txt");
  std::string text;
  std::getline(in, text);
  EXPECT_EQ(text, "keep me");
  EXPECT_EQ(round_trip(dir_ / "tunnels" / "job_env.sock", "x"), "x");
  stop_node(n);
}

// The node never reaches a socket planted in the app's place (a link to another socket).
TEST_F(TunnelTest, TheNodeRefusesALinkInTheAppsPlace) {
  asio::post(node_io_, [this] { app_.reset(); });
  ASSERT_TRUE(eventually([&] { return !app_; }));
  fs::create_directories(dir_ / "elsewhere");
  asio::post(node_io_, [this] { app_ = std::make_unique<EchoApp>(node_io_.get_executor(), dir_ / "elsewhere" / "s"); });
  ASSERT_TRUE(eventually([&] { return fs::exists(dir_ / "elsewhere" / "s"); }));
  fs::remove(dir_ / "run" / "app.sock");
  fs::create_symlink(dir_ / "elsewhere" / "s", dir_ / "run" / "app.sock");
  auto o = node_options();
  o.app_wait = 200;
  auto n = start_node(o);
  ASSERT_TRUE(eventually([&] { return svc_->socket_for("job_env").has_value(); }));
  EXPECT_EQ(round_trip(*svc_->socket_for("job_env"), "hello"), "");
  stop_node(n);
}

}  // namespace
}  // namespace atrium::tunnel
