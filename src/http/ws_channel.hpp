// A two-way WebSocket of whole messages, Beast-free, for modules that speak their own protocol
// over one (the environment tunnel, src/tunnel): the server side of an upgrade a route accepts
// (Response::ws_handler) and a client that opens one (ws:// or wss://, TLS verified).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/async.hpp"
#include "core/error.hpp"

namespace atrium::http {

// One WebSocket, used from one executor (the coroutine's that got it). At most one read and one
// write (or close) may be outstanding at a time. Both ends ping an idle peer and drop one that
// stops answering (idle_timeout).
class WsChannel {
 public:
  virtual ~WsChannel() = default;
  // The next message; an error once the WebSocket has ended (closed by either side, or broken).
  virtual async::Task<Result<std::string>> read() = 0;
  // Sends one binary message.
  virtual async::Task<Status> write(std::string_view message) = 0;
  // Sends a close frame with `code` and `reason`; a read still pending then ends.
  virtual async::Task<void> close(int code, std::string reason) = 0;
  // Cuts the connection now (no close frame): pending reads and writes end with an error.
  virtual void abort() = 0;
  // The close code the peer sent (0 = none received).
  virtual int peer_close_code() const = 0;
};

// What a route answers a WebSocket upgrade with (Response::ws_handler): the server accepts the
// upgrade and runs `run` on the connection's executor until it returns, then closes.
class WsHandler {
 public:
  virtual ~WsHandler() = default;
  virtual async::Task<void> run(WsChannel& ws) = 0;
  // Called (on the connection's executor) when the server begins its shutdown while `run` runs:
  // close soon (1001, going away).
  virtual void going_away() {}
};

struct WsClientOptions {
  std::string url;  // ws://, wss://, http:// or https://host[:port]/path
  std::vector<std::pair<std::string, std::string>> headers;  // sent with the upgrade request
  bool insecure = false;         // https: skip certificate verification (tests only)
  Millis connect_timeout = 30'000;  // resolve, connect, TLS and the upgrade together
  Millis idle_timeout = 60'000;     // no byte from the peer for this long (pinged halfway) ends it
  std::size_t max_message = 1 << 20;
};

// Opens a WebSocket. An upgrade the server refuses is an error whose extra["http_status"] is the
// answer's status (401, 404, ...); one that never answers is unavailable.
async::Task<Result<std::unique_ptr<WsChannel>>> ws_connect(WsClientOptions options);

}  // namespace atrium::http
