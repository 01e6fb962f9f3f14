// The node's end of the environment tunnel: `atrium tunnel --server URL --token-file FILE --job ID
// --socket APPSOCK`, started by an environment's SLURM batch script beside `atrium exec`. It opens
// one WebSocket to the server (the token read from the file, never from argv), connects each
// stream the server opens to the app's unix socket (waiting for it to appear: the app starts
// after the tunnel), reconnects with back-off (1 .. 30 s) when the connection drops, and ends
// when the server says the job ended or this tunnel was replaced (0), when the server refuses the
// token or the job (3), or on SIGTERM (0).
#pragma once

#include <utility>  // must precede Asio with g++ 12 + Boost 1.74 coroutines

#include <atomic>
#include <memory>
#include <string>

#include <boost/asio/any_io_executor.hpp>

#include "core/async.hpp"
#include "tunnel/mux.hpp"

namespace CLI {
class App;
}

namespace atrium::tunnel {

struct NodeOptions {
  std::string server;      // the server's base URL (http:// or https://)
  std::string token_file;  // the job's exec token
  std::string job_id;
  std::string app_socket;  // the app's unix socket (owned by its directory's owner, never a link)
  bool insecure = false;   // https without certificate checks (tests only)
  Millis backoff_min = 1000;
  Millis backoff_max = 30'000;
  Millis app_wait = 10'000;  // how long a new stream waits for the app's socket
  MuxOptions mux;
};

inline constexpr int kNodeRefused = 3;

class Node {
 public:
  Node(NodeOptions options, boost::asio::any_io_executor ex);
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // Connects, serves and reconnects until the end (the exit code: see above).
  async::Task<int> run();
  // Ends run() soon (on its executor): the tunnel closes normally.
  void stop();
  int connects() const { return connects_; }

 private:
  async::Task<std::optional<UnixSocket>> connect_app(std::function<bool()> gone);
  async::Task<void> sleep(Millis ms);

  NodeOptions o_;
  boost::asio::any_io_executor ex_;
  struct Timer;
  std::unique_ptr<Timer> timer_;
  Mux* mux_ = nullptr;  // while connected
  bool stopped_ = false;
  std::atomic<int> connects_{0};  // read by tests from another thread
};

void add_tunnel_command(CLI::App& app, int& exit_code);

}  // namespace atrium::tunnel
