// The HTTP server's insides, shared by its files (private to http/: Beast stays here).
//   server.cpp     Server, start, the accept loop, plain and TLS connections, shutdown
//   conn_slots.cpp connection caps: slots by IP and by user, eviction, the canned 503
//   session.cpp    one connection's request loop: header, admission, dispatch, access log
//   body.cpp       a local request's body: limits, 100-continue, spooling to disk
//   write.cpp      responses: whole, sized (Content-Length) and chunked from a Stream
//   websocket.cpp  a WebSocket that carries a Stream
//   ws_channel.cpp a WebSocket handed to a route's WsHandler (both ways); the WebSocket client
//   relay.cpp      the reverse proxy: upstream connections, relaying a request and its answer
//   tunnel.cpp     a proxied WebSocket after its 101: bytes both ways
#pragma once

#include <utility>  // must precede Asio with g++ 12 + Boost 1.74 coroutines

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast.hpp>
#include <boost/beast/ssl.hpp>

#include "core/async.hpp"
#include "core/clock.hpp"
#include "http/server.hpp"
#include "obs/metrics.hpp"

namespace atrium::http::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;
using asio::awaitable;
using asio::use_awaitable;
using UnixSocket = asio::local::stream_protocol::socket;
using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;
using HeadParser = bhttp::request_parser<bhttp::empty_body>;
using StringRequest = bhttp::request<bhttp::string_body>;
using StringResponse = bhttp::response<bhttp::string_body>;
using RequestHeader = bhttp::request_header<>;
using BufferRequestParser = bhttp::request_parser<bhttp::buffer_body>;
using BufferResponseParser = bhttp::response_parser<bhttp::buffer_body>;

// One live connection, as the caps and the shutdown see it.
struct Conn {
  asio::strand<asio::io_context::executor_type> strand;
  std::atomic<bool> busy{false};
  std::function<void()> cancel;  // runs on the strand
  std::string ip;
  std::uint64_t seq = 0;  // accept order
  // Until a request authenticates (or the proxy forwards one), reads end this long after the accept.
  Stopwatch age;
  Millis preauth_ms = async::kNever;
  std::atomic<bool> admitted{false};
  std::atomic<bool> in_request{false};  // a request's header is read and it is not yet answered
  // The slot it holds (GUARDED_BY(Impl::conns_mu)): none, its IP's (not yet attributed), a user's
  // (`user`), or attributed without a user (a proxied request for a guest).
  enum class Slot { kNone, kIp, kUser, kAnon } slot = Slot::kNone;
  std::string user;  // GUARDED_BY(Impl::conns_mu)
  explicit Conn(asio::strand<asio::io_context::executor_type> s) : strand(std::move(s)) {}
};

// A request body spooled to disk: removed once the request is answered (or the connection ends).
struct SpoolFile {
  std::string path;
  SpoolFile() = default;
  SpoolFile(const SpoolFile&) = delete;
  SpoolFile& operator=(const SpoolFile&) = delete;
  ~SpoolFile() {
    if (!path.empty()) ::unlink(path.c_str());
  }
};

// The proxy's connection to an upstream, kept for the client connection's next request.
struct Upstream {
  std::string path;
  std::optional<UnixSocket> sock;
  beast::flat_buffer buf;
  std::vector<char> chunk = std::vector<char>(64 * 1024);
  void reset() {
    sock.reset();
    buf.clear();
    path.clear();
  }
};

// Writes one piece of a streamed body; false when the peer is gone.
using PieceWriter = std::function<awaitable<bool>(const std::string&)>;

}  // namespace atrium::http::detail

namespace atrium::http {

struct Server::Impl {
  using Conn = detail::Conn;
  template <typename T = void>
  using awaitable = detail::awaitable<T>;
  using HeadParser = detail::HeadParser;
  using StringRequest = detail::StringRequest;
  using StringResponse = detail::StringResponse;
  using RequestHeader = detail::RequestHeader;
  using BufferRequestParser = detail::BufferRequestParser;
  using BufferResponseParser = detail::BufferResponseParser;
  using flat_buffer = boost::beast::flat_buffer;

  ServerSettings settings;
  Api& api;
  obs::Metrics& metrics;
  boost::asio::io_context io;
  async::Runtime& rt;  // its worker pool runs everything that blocks
  detail::tcp::acceptor acceptor{io};
  std::unique_ptr<boost::asio::ssl::context> ssl;
  boost::asio::signal_set signals{io};
  std::optional<boost::asio::thread_pool> io_threads;  // each runs io
  std::atomic<bool> draining{false};
  // Shutdown: the drain waits on `drain_timer` (the grace period), which the last connection's
  // end cancels; both on this strand.
  boost::asio::strand<boost::asio::io_context::executor_type> shutdown_strand{boost::asio::make_strand(io)};
  boost::asio::steady_timer drain_timer{shutdown_strand};
  std::mutex conns_mu;
  std::unordered_set<std::shared_ptr<Conn>> conns;  // GUARDED_BY(conns_mu)
  // The slots: connections not attributed to a user by IP and all together (oldest first, for
  // eviction), attributed ones by user, and how many slots are held.
  std::unordered_map<std::string, std::map<std::uint64_t, std::shared_ptr<Conn>>> by_ip;  // GUARDED_BY(conns_mu)
  std::map<std::uint64_t, std::shared_ptr<Conn>> unattributed;                            // GUARDED_BY(conns_mu)
  std::unordered_map<std::string, int> by_user;                                           // GUARDED_BY(conns_mu)
  int slots_held = 0;                                                                     // GUARDED_BY(conns_mu)
  std::uint64_t conn_seq = 0;                                                             // GUARDED_BY(conns_mu)
  std::mutex done_mu;
  std::condition_variable done_cv;
  bool done = false;  // GUARDED_BY(done_mu)
  std::string rid_prefix;
  std::atomic<std::uint64_t> rid_counter{0};
  std::map<async::Stream*, boost::asio::any_io_executor> live_streams;  // GUARDED_BY(conns_mu)

  Impl(ServerSettings s, Api& a, obs::Metrics& m, async::Runtime& runtime);

  // ---- server.cpp: connections and shutdown
  awaitable<void> accept_loop();
  awaitable<void> run_plain(detail::tcp::socket sock, std::shared_ptr<Conn> conn);
  awaitable<void> run_tls(detail::tcp::socket sock, std::shared_ptr<Conn> conn);
  void connection_ended(const std::shared_ptr<Conn>& conn);
  void begin_shutdown();
  awaitable<void> drain();
  void close_idle();
  static std::string remote_of(detail::tcp::socket& s);

  // ---- conn_slots.cpp
  void release_slot_locked(Conn& c);
  bool evict_oldest_locked(std::map<std::uint64_t, std::shared_ptr<Conn>>& pool);
  bool take_slot_locked(const std::shared_ptr<Conn>& c);
  Status claim_slot(Conn& c, const std::string& user);
  static void refuse_busy(detail::tcp::socket& sock);

  // ---- session.cpp
  template <typename Stream>
  awaitable<void> session(Stream& stream, std::shared_ptr<Conn> conn, std::string remote_ip, bool tls);
  template <typename Stream>
  awaitable<bool> read_head(Stream& stream, flat_buffer& buffer, HeadParser& head, Conn& conn, Stopwatch& t0,
                            std::string& rid);
  template <typename Stream>
  awaitable<bool> serve_local(Stream& stream, flat_buffer& buffer, HeadParser& head, const std::shared_ptr<Conn>& conn,
                              const std::string& remote_ip, bool tls, const std::string& rid, const Stopwatch& t0);
  template <typename Stream>
  awaitable<void> linger_close(Stream& stream);
  std::string new_request_id();
  Response server_problem(int status, std::string type, std::string detail, const std::string& rid);
  Request request_head(const RequestHeader& m, const std::string& remote_ip, const std::string& rid, bool tls) const;
  static Status split_target(Request& req);
  awaitable<std::optional<Response>> admit_head(const RequestHeader& hdr, const std::string& remote_ip,
                                                const std::string& rid, bool tls, Admission& adm);
  void expire_in(detail::PlainStream& lowest, const Conn& conn, int seconds);
  bool preauth_expired(const Conn& conn);
  void log_access(const Request& req, int status, double seconds, std::size_t bytes, const std::string& route);

  // ---- body.cpp
  template <typename Stream>
  awaitable<bool> read_request_body(Stream& stream, flat_buffer& buffer, HeadParser& head, const std::string& rid,
                                    Conn& conn, StringRequest& msg, detail::SpoolFile& spooled);
  template <typename Stream, typename Parser>
  awaitable<bool> read_body(Stream& stream, flat_buffer& buffer, Parser& p, std::int64_t limit, const std::string& rid,
                            bool per_read_timeout, Conn& conn);
  Response no_room_problem(const std::string& rid);

  // ---- write.cpp
  template <typename Stream>
  awaitable<void> write_response(Stream& stream, const Response& r, unsigned version, bool keep_alive, bool head,
                                 const std::string& rid);
  template <typename Stream>
  awaitable<void> write_header_only(Stream& stream, StringResponse& res);
  template <typename Stream>
  awaitable<void> write_streamed(Stream& stream, StringResponse& res, const Response& r);
  template <typename Stream>
  awaitable<void> write_sized(Stream& stream, StringResponse& res, const Response& r);
  awaitable<bool> pump(async::Stream& src, std::string first, detail::PieceWriter write, std::function<bool()> stop);
  void cancel_streams();

  // ---- websocket.cpp
  template <typename Stream>
  awaitable<void> run_websocket(Stream& stream, const StringRequest& msg, const Response& r, const std::string& rid);

  // ---- ws_channel.cpp
  template <typename Stream>
  awaitable<void> run_ws_handler(Stream& stream, const StringRequest& msg, const Response& r, const std::string& rid);

  // ---- relay.cpp
  bool for_proxy(const RequestHeader& hdr) const;
  template <typename Stream>
  awaitable<bool> proxy_request(Stream& stream, flat_buffer& buffer, HeadParser& head, detail::Upstream& up,
                                const std::string& remote_ip, bool tls, const std::string& rid, const Stopwatch& t0,
                                Conn& conn);
  template <typename Stream>
  awaitable<int> forward_request(Stream& stream, flat_buffer& buffer, BufferRequestParser& p, detail::Upstream& up,
                                 const ProxyTarget& t, const Request& req, unsigned version, bool has_body,
                                 std::optional<BufferResponseParser>& rp);
  awaitable<ProxyTarget> route_proxy(const Request& req);
  awaitable<boost::beast::error_code> connect_upstream(detail::Upstream& up, const std::string& path,
                                                       std::optional<std::uint32_t> owner_uid);
  awaitable<bool> read_upstream_header(detail::Upstream& up, BufferResponseParser& rp, boost::beast::error_code& ec);

  // ---- tunnel.cpp
  template <typename Stream>
  awaitable<void> tunnel(Stream& client, flat_buffer& cbuf, detail::Upstream& up, const ProxyTarget& t);
};

}  // namespace atrium::http
