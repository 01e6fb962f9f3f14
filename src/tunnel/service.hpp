// The server's end of the environment tunnel: an environment's job on a SLURM node opens one
// WebSocket to GET /api/v1/exec/jobs/{id}/tunnel (its exec token as the bearer); while it is
// connected the server listens on <data_dir>/tunnels/<job id>.sock (root's, 0600) and each
// connection accepted there becomes a stream to the app on the node (the protocol: mux.hpp).
// envs reaches a remote environment's app through socket_for(). Owns no tables.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "core/async.hpp"
#include "core/dir.hpp"
#include "core/error.hpp"
#include "db/database.hpp"
#include "jobs/store.hpp"
#include "tunnel/mux.hpp"

namespace atrium::http {
class Api;
}

namespace atrium::tunnel {

struct Settings {
  std::filesystem::path data_dir;  // the sockets: <data_dir>/tunnels/<job id>.sock
  // Checks a job's exec token (constant time) and returns the job; an error (401/404, the job
  // ended) refuses the tunnel. slurm::Service::verify_exec_token in the server.
  std::function<Result<jobs::JobRecord>(const std::string& job_id, const std::string& token)> verify;
  MuxOptions mux;
};

class Service {
 public:
  Service(db::Database& db, async::Runtime& rt, Settings settings);
  ~Service();
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  void add_routes(http::Api& api);
  // The socket of the job's connected tunnel; nullopt while none is connected.
  std::optional<std::filesystem::path> socket_for(const std::string& job_id) const;
  // How many tunnels are connected.
  std::size_t connected() const;

  class Handler;  // one connected tunnel (service.cpp)

 private:
  struct Entry {
    std::uint64_t generation = 0;
    std::shared_ptr<Handler> handler;
  };
  // Creates the listening socket of a new tunnel for `job_id` (replacing any other's, which is
  // told to close) and registers it; returns the listening fd. On the worker pool.
  Result<Fd> listen(const std::string& job_id, const std::shared_ptr<Handler>& h, std::uint64_t& generation);
  // Removes the job's socket if it is still this tunnel's. On the worker pool.
  void unlisten(const std::string& job_id, std::uint64_t generation);
  Result<const Dir*> dir();

  db::Database& db_;
  async::Runtime& rt_;
  Settings settings_;
  mutable std::mutex mu_;
  std::optional<Dir> dir_;                 // GUARDED_BY(mu_): <data_dir>/tunnels, made on first use
  std::map<std::string, Entry> tunnels_;   // GUARDED_BY(mu_): job id -> its connected tunnel
  std::uint64_t generation_ = 0;           // GUARDED_BY(mu_)
};

}  // namespace atrium::tunnel
