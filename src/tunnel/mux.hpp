// The environment tunnel's multiplexer: many byte streams (unix socket connections) over one
// WebSocket, the same code at both ends (the server, where each connection accepted on the
// tunnel's socket opens a stream, and the node's `atrium tunnel`, which connects each stream to
// the app's socket).
//
// Protocol: every WebSocket message is binary, [type u8][stream u32 big-endian][payload]:
//   OPEN   1  server -> node: a new stream `stream` (ids chosen by the server, never reused
//                              while the stream lives); no payload.
//   DATA   2  either way: bytes of the stream (1 .. 64 KiB).
//   CLOSE  3  either way: payload one byte, 0 = FIN (the sender's direction is done: the
//                              receiver half-closes its socket once the bytes before it are
//                              written), 1 = RESET (the stream is gone both ways).
//   WINDOW 4  either way: payload u32 big-endian, credit in bytes: the receiver has written that
//                              many bytes of the stream to its socket, so the sender may send
//                              that many more.
// Each side may send at most `window` (256 KiB) bytes of a stream ahead of the credit it got back,
// so a stream whose reader is slow stops only itself, and a tunnel holds at most
// streams x window bytes per direction. DATA beyond the window, or any malformed message, resets
// the stream (a malformed header ends the tunnel). At most `max_streams` live streams: past it
// the server refuses new connections and the node resets OPENs. Keepalive: WebSocket pings
// (http/ws_channel.hpp); a peer that stops answering ends the tunnel, and with it every stream.
#pragma once

#include <utility>  // must precede Asio with g++ 12 + Boost 1.74 coroutines

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/local/stream_protocol.hpp>

#include "core/async.hpp"
#include "core/error.hpp"

namespace atrium::http {
class WsChannel;
}

namespace atrium::tunnel {

using UnixSocket = boost::asio::local::stream_protocol::socket;

enum class Type : std::uint8_t { kOpen = 1, kData = 2, kClose = 3, kWindow = 4 };
inline constexpr std::uint8_t kFin = 0, kReset = 1;
// Close codes the server ends a tunnel with, after which the node stops (no reconnect).
inline constexpr int kJobEnded = 4000;
inline constexpr int kReplaced = 4001;

struct Frame {
  Type type = Type::kData;
  std::uint32_t stream = 0;
  std::string_view payload;
};
std::string encode(Type type, std::uint32_t stream, std::string_view payload = {});
std::string encode_window(std::uint32_t stream, std::uint32_t credit);
// nullopt: too short, or an unknown type.
std::optional<Frame> decode(std::string_view message);

struct MuxOptions {
  std::uint32_t window = 256 * 1024;
  std::size_t max_streams = 256;
  std::size_t chunk = 64 * 1024;
};

// One tunnel's streams, on one executor (the coroutine's that calls run(); every other call is
// made there too).
class Mux {
 public:
  // The node's way to the app for a new stream; nullopt resets the stream. It should give up soon
  // once `gone()` says the stream (or the tunnel) has ended.
  using Connect = std::function<async::Task<std::optional<UnixSocket>>(std::function<bool()> gone)>;
  // Runs on `ex` (a strand or a single-threaded context). `connect` set: the node's end (it
  // accepts OPEN); unset: the server's end (it sends OPEN).
  Mux(http::WsChannel& ws, boost::asio::any_io_executor ex, MuxOptions options, Connect connect = {});
  ~Mux();
  Mux(const Mux&) = delete;
  Mux& operator=(const Mux&) = delete;

  // Moves messages until the WebSocket ends or close() was called; every stream is closed when it
  // returns.
  async::Task<void> run();
  // The server's end: a new stream for this accepted connection; false (the socket closed) past
  // max_streams or once the tunnel is ending.
  bool add(UnixSocket sock);
  // Ends the tunnel: a close frame with `code`, then run() returns.
  void close(int code, std::string reason);
  std::size_t stream_count() const;

  struct State;

 private:
  std::shared_ptr<State> s_;
};

}  // namespace atrium::tunnel
