#include <utility>  // must precede Asio with g++ 12 + Boost 1.74 coroutines

#include "http/server.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <limits>
#include <mutex>
#include <thread>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <spdlog/spdlog.h>

#include "core/async.hpp"
#include "core/crypto.hpp"
#include "core/io_thread.hpp"
#include "core/dir.hpp"
#include "http/proxy_header.hpp"
#include "obs/metrics.hpp"

namespace atrium::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using asio::awaitable;
using asio::use_awaitable;
using tcp = asio::ip::tcp;

namespace {

// One live connection, as the shutdown logic sees it.
struct Conn {
  asio::strand<asio::io_context::executor_type> strand;
  std::atomic<bool> busy{false};
  std::function<void()> cancel;  // runs on the strand
  std::string ip;
  std::uint64_t seq = 0;  // accept order
  // Until a request authenticates (or the proxy forwards one), reads end by this deadline.
  std::chrono::steady_clock::time_point preauth_deadline = std::chrono::steady_clock::time_point::max();
  std::atomic<bool> admitted{false};
  std::atomic<bool> in_request{false};  // a request's header is read and it is not yet answered
  // The slot it holds (GUARDED_BY(Impl::conns_mu)): none, its IP's (not yet attributed), a user's
  // (`user`), or attributed without a user (a proxied request for a guest).
  enum class Slot { kNone, kIp, kUser, kAnon } slot = Slot::kNone;
  std::string user;  // GUARDED_BY(Impl::conns_mu)
  explicit Conn(asio::strand<asio::io_context::executor_type> s) : strand(std::move(s)) {}
};

// Answered to a connection over a cap, written without waiting (a full socket buffer drops it).
const std::string& busy_response() {
  static const std::string r = [] {
    std::string body = nlohmann::json{{"type", "urn:atrium:problem:too-many-connections"},
                                      {"title", "too-many-connections"},
                                      {"status", 503},
                                      {"detail", "too many open connections; try again later"}}
                           .dump();
    return "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/problem+json\r\nConnection: close\r\n"
           "Cache-Control: no-store\r\nRetry-After: 5\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body;
  }();
  return r;
}

// Free bytes for an unprivileged writer on the file system of `dir`; max when unknown.
std::int64_t free_bytes(const std::string& dir) {
  struct statvfs st{};
  if (::statvfs(dir.c_str(), &st) != 0) return std::numeric_limits<std::int64_t>::max();
  return static_cast<std::int64_t>(st.f_bavail) * static_cast<std::int64_t>(st.f_frsize);
}

bool good_request_id(std::string_view v) {
  if (v.empty() || v.size() > 128) return false;
  for (char c : v)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == ':')) return false;
  return true;
}

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

std::string json_escape(std::string_view s) {
  return nlohmann::json(std::string(s)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

struct Server::Impl {
  ServerSettings settings;
  Api& api;
  obs::Metrics& metrics;
  asio::io_context io;
  async::Runtime& rt;  // its worker pool runs everything that blocks
  tcp::acceptor acceptor{io};
  std::unique_ptr<asio::ssl::context> ssl;
  asio::signal_set signals{io};
  std::vector<std::thread> threads;
  std::atomic<bool> draining{false};
  std::mutex conns_mu;
  std::unordered_set<std::shared_ptr<Conn>> conns;  // GUARDED_BY(conns_mu)
  // The slots: connections not attributed to a user by IP and all together (oldest first, for
  // eviction), attributed ones by user, and how many slots are held.
  std::unordered_map<std::string, std::map<std::uint64_t, std::shared_ptr<Conn>>> by_ip;  // GUARDED_BY(conns_mu)
  std::map<std::uint64_t, std::shared_ptr<Conn>> unattributed;                             // GUARDED_BY(conns_mu)
  std::unordered_map<std::string, int> by_user;                                            // GUARDED_BY(conns_mu)
  int slots_held = 0;                                                                      // GUARDED_BY(conns_mu)
  std::uint64_t conn_seq = 0;                                                              // GUARDED_BY(conns_mu)
  std::mutex done_mu;
  std::condition_variable done_cv;
  bool done = false;  // GUARDED_BY(done_mu)
  std::string rid_prefix;
  std::atomic<std::uint64_t> rid_counter{0};
  std::map<async::Stream*, asio::any_io_executor> live_streams;  // GUARDED_BY(conns_mu)

  Impl(ServerSettings s, Api& a, obs::Metrics& m, async::Runtime& runtime)
      : settings(std::move(s)), api(a), metrics(m), io(std::max(1, settings.io_threads)),
        rt(runtime) {
    rid_prefix = crypto::hex(crypto::random_bytes(4));
  }

  std::string new_request_id() {
    char buf[24];
    std::snprintf(buf, sizeof buf, "%012llx", static_cast<unsigned long long>(++rid_counter));
    return rid_prefix + buf;
  }

  // Runs Api::handle on the worker pool and resumes the coroutine on its own executor.
  awaitable<Response> dispatch(Request& req, Admission& adm) {
    co_return co_await async::on_pool(rt, [this, &req, &adm] { return api.handle(req, adm); });
  }

  Response server_problem(int status, std::string type, std::string detail, const std::string& rid) {
    nlohmann::json j = {{"type", "urn:atrium:problem:" + type}, {"title", type},         {"status", status},
                        {"detail", detail},                     {"instance", "urn:atrium:request:" + rid},
                        {"request_id", rid}};
    Response r = Response::json(status, j);
    r.content_type = "application/problem+json";
    return r;
  }

  template <typename Stream>
  awaitable<void> write_response(Stream& stream, const Response& r, unsigned version, bool keep_alive, bool head,
                                 const std::string& rid) {
    bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(r.status), version};
    if (!r.content_type.empty()) res.set(bhttp::field::content_type, r.content_type);
    for (auto& [k, v] : r.headers) res.insert(k, v);
    res.set("X-Request-Id", rid);
    if (r.status >= 400 || r.content_type.starts_with("application/json"))
      res.set(bhttp::field::cache_control, "no-store");
    res.keep_alive(keep_alive);
    if (head) {
      res.content_length(r.stream && r.stream_length >= 0 ? static_cast<std::uint64_t>(r.stream_length) : r.body.size());
      bhttp::response_serializer<bhttp::string_body> sr{res};
      sr.split(true);
      co_await bhttp::async_write_header(stream, sr, use_awaitable);
    } else if (r.stream && r.stream_length >= 0) {
      co_await write_sized(stream, res, r);
    } else if (r.stream && version >= 11) {
      co_await write_streamed(stream, res, r);
    } else {
      res.body() = r.body;
      res.prepare_payload();
      co_await bhttp::async_write(stream, res, use_awaitable);
    }
  }

  // Feeds `first`, then each piece `src` yields, to `write` (which returns false when the peer is
  // gone). Nothing polls: the stream wakes this coroutine when it has more. Ends at the stream's
  // end, on a failed write, on shutdown (begin_shutdown cancels every live stream; the client
  // resumes from its offset elsewhere) or when `stop()` says so (after a cancel of the stream by
  // the caller). True: the stream ended.
  template <typename Write, typename Stop>
  awaitable<bool> pump(async::Stream& src, std::string first, Write write, Stop stop) {
    LiveStream live(*this, src, co_await asio::this_coro::executor);
    std::string piece = std::move(first);
    for (;;) {
      if (!piece.empty()) {
        if (!co_await write(piece)) co_return false;
        piece.clear();
      }
      if (draining || stop()) co_return false;
      if (!co_await src.next(piece)) {
        if (!piece.empty() && !co_await write(piece)) co_return false;
        co_return true;
      }
    }
  }

  // The streams being pumped, so that shutdown can cancel their waits (on their own strands).
  struct LiveStream {
    Impl& impl;
    async::Stream* s;
    LiveStream(Impl& i, async::Stream& src, asio::any_io_executor ex) : impl(i), s(&src) {
      std::lock_guard lk(impl.conns_mu);
      impl.live_streams.emplace(s, std::move(ex));
    }
    ~LiveStream() {
      std::lock_guard lk(impl.conns_mu);
      impl.live_streams.erase(s);
    }
  };
  void cancel_streams() {
    std::lock_guard lk(conns_mu);
    for (auto& [s, ex] : live_streams)
      asio::post(ex, [this, s = s] {
        std::lock_guard lk2(conns_mu);
        if (live_streams.count(s)) s->cancel();  // still pumped: alive (this runs on its strand)
      });
  }

  // Chunked: the header, `r.body` as the first chunk, then each piece the stream yields; the
  // stream's end (or shutdown) writes the last chunk.
  template <typename Stream>
  awaitable<void> write_header_only(Stream& stream, bhttp::response<bhttp::string_body>& res) {
    bhttp::response_serializer<bhttp::string_body> sr{res};
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(settings.request_timeout_s));
    co_await bhttp::async_write_header(stream, sr, use_awaitable);
  }

  template <typename Stream>
  awaitable<void> write_streamed(Stream& stream, bhttp::response<bhttp::string_body>& res, const Response& r) {
    res.chunked(true);
    co_await write_header_only(stream, res);
    auto& lowest = beast::get_lowest_layer(stream);
    const auto write_timeout = std::chrono::seconds(settings.request_timeout_s);
    auto write = [&](const std::string& piece) -> awaitable<bool> {
      lowest.expires_after(write_timeout);  // a client that stops reading is cut off
      co_await asio::async_write(stream, bhttp::make_chunk(asio::buffer(piece)), use_awaitable);
      co_return true;
    };
    lowest.expires_never();  // while the stream waits for more; each write arms its own timeout
    co_await pump(*r.stream, r.body, write, [] { return false; });
    if (r.stream->failed()) throw std::runtime_error("the response body could not be produced");
    lowest.expires_after(write_timeout);
    co_await asio::async_write(stream, bhttp::make_chunk_last(), use_awaitable);
  }

  // A body of known length (Content-Length) produced by a stream: a file download. If the stream
  // fails or ends early, the connection is cut so that the client sees a short body.
  template <typename Stream>
  awaitable<void> write_sized(Stream& stream, bhttp::response<bhttp::string_body>& res, const Response& r) {
    res.content_length(static_cast<std::uint64_t>(r.stream_length));
    co_await write_header_only(stream, res);
    auto& lowest = beast::get_lowest_layer(stream);
    const auto write_timeout = std::chrono::seconds(settings.request_timeout_s);
    std::int64_t sent = 0;
    auto write = [&](const std::string& piece) -> awaitable<bool> {
      if (sent + static_cast<std::int64_t>(piece.size()) > r.stream_length)
        throw std::runtime_error("the response body is longer than its Content-Length");
      lowest.expires_after(write_timeout);
      co_await asio::async_write(stream, asio::buffer(piece), use_awaitable);
      sent += static_cast<std::int64_t>(piece.size());
      co_return true;
    };
    lowest.expires_never();
    bool ended = co_await pump(*r.stream, r.body, write, [] { return false; });
    if (!ended || r.stream->failed() || sent != r.stream_length)
      throw std::runtime_error("the response body ended short of its Content-Length");
  }

  // A WebSocket that carries a BodyStream: `r.body`, then each piece, one binary message each.
  // A reader runs beside the writer (on the connection's strand) so that pings are answered and
  // the client's close is seen; client messages are ignored. Ends on the stream's end (close
  // 1000), the client's close or error, or shutdown (close 1001: the client resumes elsewhere).
  template <typename Stream>
  awaitable<void> run_websocket(Stream& stream, const bhttp::request<bhttp::string_body>& msg, const Response& r,
                                const std::string& rid) {
    namespace ws = beast::websocket;
    ws::stream<Stream&> sock(stream);
    beast::get_lowest_layer(stream).expires_never();  // the WebSocket's own timeouts from here on
    auto timeouts = ws::stream_base::timeout::suggested(beast::role_type::server);
    timeouts.idle_timeout = std::chrono::seconds(settings.idle_timeout_s);
    timeouts.keep_alive_pings = true;  // an idle client is pinged; one that does not answer is cut off
    sock.set_option(timeouts);
    sock.set_option(ws::stream_base::decorator([&](ws::response_type& res) {
      res.set("X-Request-Id", rid);
      for (auto& [k, v] : r.headers) res.insert(k, v);
    }));
    sock.read_message_max(64 * 1024);
    sock.binary(true);
    beast::error_code ec;
    co_await sock.async_accept(msg, asio::redirect_error(use_awaitable, ec));
    if (ec) co_return;

    auto ex = co_await asio::this_coro::executor;
    asio::steady_timer reader_done(ex, asio::steady_timer::time_point::max());
    bool reader_finished = false;
    asio::co_spawn(
        ex,
        [&]() -> awaitable<void> {
          beast::flat_buffer in;
          beast::error_code rec;
          for (;;) {
            co_await sock.async_read(in, asio::redirect_error(use_awaitable, rec));
            if (rec) break;
            in.consume(in.size());
          }
          reader_finished = true;
          r.stream->cancel();
          reader_done.cancel();
        },
        asio::detached);

    auto write = [&](const std::string& piece) -> awaitable<bool> {
      co_await sock.async_write(asio::buffer(piece), asio::redirect_error(use_awaitable, ec));
      co_return !ec;
    };
    co_await pump(*r.stream, r.body, write, [&] { return reader_finished; });
    if (!reader_finished && !ec) {
      ws::close_reason why(draining ? ws::close_code::going_away : ws::close_code::normal);
      co_await sock.async_close(why, asio::redirect_error(use_awaitable, ec));
    }
    if (!reader_finished) {
      if (ec) beast::get_lowest_layer(stream).socket().close(ec);  // ends the reader's read
      co_await reader_done.async_wait(asio::redirect_error(use_awaitable, ec));
    }
  }

  // Arms the stream's deadline `seconds` from now, or at the connection's pre-authentication
  // deadline if that comes first and no request has authenticated on it yet.
  template <typename Lowest>
  void expire_in(Lowest& lowest, const Conn& conn, int seconds) {
    auto at = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    if (!conn.admitted && conn.preauth_deadline < at) at = conn.preauth_deadline;
    lowest.expires_at(at);
  }

  // Whether a read that timed out ended at the pre-authentication deadline (counted).
  bool preauth_expired(const Conn& conn) {
    if (conn.admitted || std::chrono::steady_clock::now() < conn.preauth_deadline) return false;
    metrics.connection_cut("preauth_timeout");
    return true;
  }

  Response no_room_problem(const std::string& rid) {
    return server_problem(507, "insufficient-storage",
                          "the server's disk has no room for this request body; try again later", rid);
  }

  // After an answer sent before the request's body was read: ends our side, then reads and
  // drops what the client still sends for a moment (at most 2 s and 1 MiB, never kept), so that
  // closing does not reset the connection before the client has read the answer.
  template <typename Stream>
  awaitable<void> linger_close(Stream& stream) {
    auto& lowest = beast::get_lowest_layer(stream);
    beast::error_code ec;
    lowest.socket().shutdown(tcp::socket::shutdown_send, ec);
    lowest.expires_after(std::chrono::seconds(2));
    std::array<char, 16 * 1024> sink;
    std::size_t total = 0;
    while (total < (1u << 20)) {
      std::size_t n = co_await lowest.async_read_some(asio::buffer(sink), asio::redirect_error(use_awaitable, ec));
      if (ec) break;
      total += n;
    }
  }

  // Reads a request's body into `p`. Spooled bodies (to disk) get request_timeout_s per read, so
  // that a large push is limited by idleness, not length; others get it for the whole body. On
  // failure the error (413, 400) has been answered and the connection should close.
  // A spooled body stops when the disk's free space falls to spool_reserve_bytes (507).
  template <typename Stream, typename Parser>
  awaitable<bool> read_body(Stream& stream, beast::flat_buffer& buffer, Parser& p, std::int64_t limit,
                            const std::string& rid, bool per_read_timeout, Conn& conn) {
    auto& lowest = beast::get_lowest_layer(stream);
    beast::error_code ec;
    expire_in(lowest, conn, settings.request_timeout_s);
    bool no_room = false;
    if (per_read_timeout) {
      const bool guard = settings.spool_reserve_bytes > 0;
      while (!ec && !p.is_done()) {
        expire_in(lowest, conn, settings.request_timeout_s);
        co_await bhttp::async_read_some(stream, buffer, p, asio::redirect_error(use_awaitable, ec));
        if (!ec && guard && !p.is_done() && free_bytes(settings.spool_dir) < settings.spool_reserve_bytes) {
          no_room = true;
          break;
        }
      }
    } else {
      co_await bhttp::async_read(stream, buffer, p, asio::redirect_error(use_awaitable, ec));
    }
    if (!ec && !no_room) co_return true;
    unsigned version = p.get().version();
    if (no_room) {
      metrics.connection_cut("spool_reserve");
      co_await write_response(stream, no_room_problem(rid), version, false, false, rid);
      co_await linger_close(stream);
    } else if (ec == bhttp::error::body_limit) {
      Response r = server_problem(413, "body-too-large",
                                  "the request body is larger than " + std::to_string(limit) + " bytes", rid);
      co_await write_response(stream, r, version, false, false, rid);
      co_await linger_close(stream);
    } else if (ec != beast::error::timeout && ec != bhttp::error::end_of_stream && ec != asio::error::eof) {
      Response r = server_problem(400, "bad-request", "malformed HTTP request body: " + ec.message(), rid);
      co_await write_response(stream, r, version, false, false, rid);
    }
    co_return false;
  }

  // The Beast-free request of a parsed header (names lower-cased), without its body.
  template <class Message>
  Request request_head(const Message& m, const std::string& remote_ip, const std::string& rid, bool tls) const {
    Request req;
    req.method = std::string(m.method_string());
    req.target = std::string(m.target());
    req.remote_ip = remote_ip;
    req.request_id = rid;
    req.tls = tls;
    req.headers.reserve(16);
    for (auto& f : m) {
      std::string name(f.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      req.headers.emplace_back(std::move(name), std::string(f.value()));
    }
    req.websocket = beast::websocket::is_upgrade(m);
    apply_forwarded(req, settings.trusted_proxies);  // client address and scheme behind a trusted proxy
    return req;
  }

  // Runs f() on the worker pool (it may block: the database) and resumes on this executor.
  template <typename F>
  awaitable<std::invoke_result_t<F&>> on_workers(F f) {
    co_return co_await async::on_pool(rt, std::move(f));
  }

  using UnixSocket = asio::local::stream_protocol::socket;

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

  // Connects to a unix socket; a path longer than sun_path allows is reached through an O_PATH
  // descriptor of its directory (/proc/self/fd/N/name).
  // With `owner_uid`, the socket is opened O_PATH | O_NOFOLLOW and must be a socket of that uid;
  // the connection goes to that very inode (/proc/self/fd/N, held until connected).
  awaitable<beast::error_code> connect_upstream(Upstream& up, const std::string& path,
                                                std::optional<std::uint32_t> owner_uid) {
    if (up.sock && up.sock->is_open() && up.path == path) co_return beast::error_code{};
    up.reset();
    UnixSocket s(co_await asio::this_coro::executor);
    std::string p = path;
    int dirfd = -1;
    Fd checked;
    if (owner_uid) {
      auto fd = Dir::open_socket_at(path, *owner_uid);
      if (!fd) {
        spdlog::warn("proxy: refusing to connect to {}: {}", path, fd.error().detail);
        co_return boost::system::errc::make_error_code(boost::system::errc::permission_denied);
      }
      checked = std::move(*fd);
      p = Dir::proc_path(checked.get());
    } else if (p.size() >= 100) {
      auto slash = p.rfind('/');
      dirfd = ::open(p.substr(0, slash == std::string::npos ? 0 : slash).c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
      if (dirfd < 0) co_return beast::error_code(errno, boost::system::system_category());
      p = "/proc/self/fd/" + std::to_string(dirfd) + p.substr(slash);
    }
    beast::error_code ec;
    co_await s.async_connect(asio::local::stream_protocol::endpoint(p), asio::redirect_error(use_awaitable, ec));
    if (dirfd >= 0) ::close(dirfd);
    if (!ec) {
      up.sock.emplace(std::move(s));
      up.path = path;
    }
    co_return ec;
  }

  // Relays one message whose header `p` has read: header, then the body piece by piece (never
  // whole), re-framed by the serializer (Content-Length or chunked as the header says).
  // before_read/before_write set the deadlines of the client's side.
  template <bool isRequest, typename In, typename Out, typename BeforeRead, typename BeforeWrite>
  awaitable<void> relay_message(In& in, beast::flat_buffer& inbuf, bhttp::parser<isRequest, bhttp::buffer_body>& p,
                                Out& out, std::vector<char>& chunk, BeforeRead before_read, BeforeWrite before_write) {
    bhttp::serializer<isRequest, bhttp::buffer_body> sr{p.get()};
    beast::error_code ec;
    before_write();
    co_await bhttp::async_write_header(out, sr, use_awaitable);
    do {
      if (!p.is_done()) {
        p.get().body().data = chunk.data();
        p.get().body().size = chunk.size();
        before_read();
        co_await bhttp::async_read(in, inbuf, p, asio::redirect_error(use_awaitable, ec));
        if (ec == bhttp::error::need_buffer) ec = {};
        if (ec) throw beast::system_error(ec);
        p.get().body().size = chunk.size() - p.get().body().size;
        p.get().body().data = chunk.data();
        p.get().body().more = !p.is_done();
      } else {
        p.get().body().data = nullptr;
        p.get().body().size = 0;
      }
      before_write();
      co_await bhttp::async_write(out, sr, asio::redirect_error(use_awaitable, ec));
      if (ec == bhttp::error::need_buffer) ec = {};
      if (ec) throw beast::system_error(ec);
    } while (!p.is_done() && !sr.is_done());
  }

  // One direction of a tunnel: copies until EOF or an error, then closes both sides so that the
  // other direction ends too. `done` is cancelled when it returns.
  template <typename From, typename To, typename Touch>
  awaitable<void> pipe_bytes(From& from, To& to, std::vector<char>& chunk, Touch& touch, std::function<void()> close_all,
                             asio::steady_timer* done) {
    beast::error_code ec;
    for (;;) {
      std::size_t n = co_await from.async_read_some(asio::buffer(chunk), asio::redirect_error(use_awaitable, ec));
      if (ec) break;
      co_await asio::async_write(to, asio::buffer(chunk.data(), n), asio::redirect_error(use_awaitable, ec));
      if (ec) break;
      touch();
    }
    close_all();
    if (done) done->cancel();
  }

  // After a 101: bytes both ways until either side closes (WebSocket frames pass untouched, so
  // close frames, pings and subprotocols are the peers' business).
  template <typename Stream>
  awaitable<void> tunnel(Stream& client, beast::flat_buffer& cbuf, Upstream& up, const ProxyTarget& t) {
    auto& lowest = beast::get_lowest_layer(client);
    lowest.expires_never();
    auto& us = *up.sock;
    if (up.buf.size() > 0) co_await asio::async_write(client, up.buf.data(), use_awaitable);
    up.buf.clear();
    if (cbuf.size() > 0) co_await asio::async_write(us, cbuf.data(), use_awaitable);
    cbuf.consume(cbuf.size());
    auto last = std::chrono::steady_clock::now();
    auto last_byte = last;
    auto touch = [&] {
      auto now = std::chrono::steady_clock::now();
      last_byte = now;
      if (t.touch && now - last > std::chrono::seconds(5)) {
        last = now;
        t.touch();
      }
    };
    bool closed = false;
    auto close_all = [&] {
      if (closed) return;
      closed = true;
      beast::error_code ec;
      us.close(ec);
      lowest.socket().shutdown(tcp::socket::shutdown_both, ec);
      lowest.cancel();
    };
    auto ex = co_await asio::this_coro::executor;
    asio::steady_timer done(ex, asio::steady_timer::time_point::max());
    bool child_done = false;
    std::vector<char> down_chunk(64 * 1024);
    asio::co_spawn(ex, pipe_bytes(us, client, down_chunk, touch, close_all, &done),
                   [&child_done](std::exception_ptr) { child_done = true; });
    // The idle limit: no byte either way for tunnel_idle_timeout_s closes the tunnel.
    asio::steady_timer idle(ex), watchdog_end(ex, asio::steady_timer::time_point::max());
    bool watchdog_done = false;
    asio::co_spawn(
        ex,
        [&]() -> awaitable<void> {
          const auto limit = std::chrono::seconds(settings.tunnel_idle_timeout_s);
          beast::error_code wec;
          while (!closed) {
            idle.expires_at(last_byte + limit);
            co_await idle.async_wait(asio::redirect_error(use_awaitable, wec));
            if (closed) break;
            if (std::chrono::steady_clock::now() >= last_byte + limit) {
              metrics.connection_cut("tunnel_idle");
              close_all();
            }
          }
          watchdog_done = true;
          watchdog_end.cancel();
        },
        asio::detached);
    co_await pipe_bytes(client, us, up.chunk, touch, close_all, nullptr);
    beast::error_code ec;
    while (!child_done) co_await done.async_wait(asio::redirect_error(use_awaitable, ec));
    idle.cancel();
    while (!watchdog_done) co_await watchdog_end.async_wait(asio::redirect_error(use_awaitable, ec));
    up.reset();
  }

  // Reads an upstream response's header within upstream_header_timeout_s. True: the deadline
  // passed (`ec` is then set too).
  awaitable<bool> read_upstream_header(Upstream& up, bhttp::response_parser<bhttp::buffer_body>& rp,
                                       beast::error_code& ec) {
    struct State {
      bool done = false;
      bool fired = false;
    };
    auto state = std::make_shared<State>();
    asio::steady_timer deadline(co_await asio::this_coro::executor);
    deadline.expires_after(std::chrono::seconds(settings.upstream_header_timeout_s));
    UnixSocket* sock = &*up.sock;  // alive while the read below is pending (the handler runs on this strand)
    deadline.async_wait([state, sock](const beast::error_code& e) {
      if (e || state->done) return;
      state->fired = true;
      beast::error_code ignored;
      sock->cancel(ignored);
    });
    co_await bhttp::async_read_header(*up.sock, up.buf, rp, asio::redirect_error(use_awaitable, ec));
    state->done = true;
    deadline.cancel();
    co_return ec && state->fired;
  }

  // Whether a request goes to the proxy: any on a host the proxy owns (an environment's origin),
  // else those under its path prefix.
  bool for_proxy(const bhttp::request_header<>& hdr) const {
    const auto& p = settings.proxy;
    if (p.owns_host)
      if (auto it = hdr.find(bhttp::field::host); it != hdr.end() && p.owns_host(it->value())) return true;
    return !p.prefix.empty() && std::string_view(hdr.target()).starts_with(p.prefix);
  }

  // A request for the proxy's prefix, its header read. Returns whether the client connection
  // may serve another request.
  template <typename Stream>
  awaitable<bool> proxy_request(Stream& stream, beast::flat_buffer& buffer, bhttp::request_parser<bhttp::empty_body>& head,
                                Upstream& up, const std::string& remote_ip, bool tls, const std::string& rid,
                                std::chrono::steady_clock::time_point t0, Conn& conn) {
    auto& lowest = beast::get_lowest_layer(stream);
    auto& hdr = head.get();
    Request req = request_head(hdr, remote_ip, rid, tls);
    auto qpos = req.target.find('?');
    if (auto path = percent_decode(std::string_view(req.target).substr(0, qpos), false)) req.path = std::move(*path);
    if (qpos != std::string::npos)
      if (auto q = parse_query(std::string_view(req.target).substr(qpos + 1))) req.query = std::move(*q);
    const unsigned version = hdr.version();
    const bool keep = head.keep_alive() && !draining;
    const bool has_body = head.chunked() || head.content_length().value_or(0) > 0;
    std::optional<ProxyTarget> cached;
    if (settings.proxy.cached_route) cached = settings.proxy.cached_route(req);
    auto route = settings.proxy.route;
    ProxyTarget t;
    if (cached) t = std::move(*cached);
    else t = co_await on_workers([&req, &route] { return route(req); });  // (not in a ?: : g++ 12)
    auto finish = [&](int status) {
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      metrics.observe_request(t.route, req.method, status, secs);
      log_access(req, status, secs, 0, t.route);
    };
    if (!t.forward) {
      // The body (if any) is not read: the connection ends after the answer.
      co_await write_response(stream, t.refuse, version, keep && !has_body, req.method == "HEAD", rid);
      finish(t.refuse.status);
      co_return keep && !has_body;
    }
    // The proxy let it through: a signed-in caller's connection counts against its user from now
    // on (over the cap: 429); a guest's stays counted against its address, only the
    // pre-authentication deadline is lifted.
    if (!t.user.empty()) {
      if (auto st = claim_slot(conn, t.user); !st) {
        co_await write_response(stream, Response::problem(st.error(), rid), version, false, req.method == "HEAD", rid);
        finish(429);
        co_return false;
      }
    } else if (!conn.admitted) {
      conn.admitted = true;
    }
    if (t.touch) t.touch();
    if (auto it = hdr.find(bhttp::field::expect); it != hdr.end() && beast::iequals(it->value(), "100-continue")) {
      bhttp::response<bhttp::empty_body> cont{bhttp::status::continue_, version};
      lowest.expires_after(std::chrono::seconds(settings.request_timeout_s));
      co_await bhttp::async_write(stream, cont, use_awaitable);
    }
    bhttp::request_parser<bhttp::buffer_body> p{std::move(head)};
    p.body_limit(std::numeric_limits<std::uint64_t>::max());  // streamed, never held
    rewrite_for_upstream(p.get(), t, req.websocket);
    const auto read_timeout = std::chrono::seconds(settings.request_timeout_s);
    auto client_read = [&] { lowest.expires_after(read_timeout); };
    auto no_op = [] {};
    std::optional<bhttp::response_parser<bhttp::buffer_body>> rp;
    for (int attempt = 0;; ++attempt) {
      bool reused = up.sock && up.sock->is_open() && up.path == t.socket_path;
      if (auto ec = co_await connect_upstream(up, t.socket_path, t.socket_uid); ec) {
        Response r = server_problem(502, "env-unreachable", "the environment does not answer: " + ec.message(), rid);
        co_await write_response(stream, r, version, false, false, rid);
        finish(502);
        co_return false;
      }
      // The request, streamed to the upstream; then the response's header.
      beast::error_code ec;
      try {
        co_await relay_message(stream, buffer, p, *up.sock, up.chunk, client_read, no_op);
      } catch (const beast::system_error& e) {
        ec = e.code();
      }
      rp.emplace();
      rp->body_limit(std::numeric_limits<std::uint64_t>::max());
      if (req.method == "HEAD") rp->skip(true);
      bool timed_out = false;
      if (!ec) {
        lowest.expires_never();  // an app may take its time (long polls), up to the header deadline
        timed_out = co_await read_upstream_header(up, *rp, ec);
      }
      if (!ec) break;
      up.reset();
      if (timed_out) {
        metrics.connection_cut("upstream_timeout");
        Response r = server_problem(504, "env-timeout",
                                    "the environment did not answer within " +
                                        std::to_string(settings.upstream_header_timeout_s) + " s",
                                    rid);
        co_await write_response(stream, r, version, false, false, rid);
        finish(504);
        co_return false;
      }
      // A kept connection the upstream closed meanwhile: once more on a new one, if nothing of a
      // body was consumed.
      if (reused && attempt == 0 && !has_body) continue;
      Response r = server_problem(502, "env-unreachable", "the environment's answer failed: " + ec.message(), rid);
      co_await write_response(stream, r, version, false, false, rid);
      finish(502);
      co_return false;
    }
    auto& res = rp->get();
    int status = static_cast<int>(res.result_int());
    if (status == 101) {
      if (!req.websocket) throw std::runtime_error("the upstream switched protocols unasked");
      lowest.expires_after(read_timeout);
      drop_atrium_fields(res);  // a handshake's Set-Cookie counts too
      bhttp::response_serializer<bhttp::buffer_body> sr{res};
      co_await bhttp::async_write_header(stream, sr, use_awaitable);
      finish(101);
      co_await tunnel(stream, buffer, up, t);
      co_return false;
    }
    bool upstream_keep = rp->keep_alive();
    rewrite_for_client(res, keep);
    auto client_write = [&] { lowest.expires_after(read_timeout); };
    co_await relay_message(*up.sock, up.buf, *rp, stream, up.chunk, no_op, client_write);
    if (!upstream_keep) up.reset();
    finish(status);
    co_return keep;
  }

  void log_access(const Request& req, int status, double seconds, std::size_t bytes, const std::string& route) {
    if (!settings.access_log) return;
    auto ua = req.header("user-agent");
    settings.access_log->info(
        "{{\"time\":{},\"request_id\":{},\"remote\":{},\"method\":{},\"path\":{},\"route\":{},\"status\":{},"
        "\"bytes\":{},\"duration_ms\":{:.3f},\"user_agent\":{}}}",
        json_escape(format_rfc3339(SystemClock().now_ms())), json_escape(req.request_id), json_escape(req.remote_ip),
        json_escape(req.method), json_escape(req.path), json_escape(route), status, bytes, seconds * 1000,
        json_escape(ua ? *ua : ""));
  }

  template <typename Stream>
  awaitable<void> session(Stream& stream, std::shared_ptr<Conn> conn, std::string remote_ip, bool tls) {
    beast::flat_buffer buffer;
    std::optional<Upstream> upstream;  // the proxy's connection, kept for the next request
    auto& lowest = beast::get_lowest_layer(stream);
    for (;;) {
      if (draining) break;
      // Wait for the first byte of the next request (idle timeout), then give the whole header
      // a short deadline: a client that trickles bytes (slowloris) is cut off. Until a request
      // has authenticated, both end at the connection's pre-authentication deadline too.
      beast::error_code ec;
      if (buffer.size() == 0) {
        expire_in(lowest, *conn, settings.idle_timeout_s);
        std::size_t n = co_await stream.async_read_some(buffer.prepare(4096),
                                                        asio::redirect_error(use_awaitable, ec));
        if (ec) {
          if (ec == beast::error::timeout) preauth_expired(*conn);
          break;
        }
        buffer.commit(n);
      }
      conn->busy = true;
      auto t0 = std::chrono::steady_clock::now();
      bhttp::request_parser<bhttp::empty_body> head;
      head.header_limit(static_cast<std::uint32_t>(settings.max_header_bytes));
      // No limit for the header (boost::none compares wrongly in Beast 1.81): the route's limit is
      // applied once the header is known.
      head.body_limit(std::numeric_limits<std::uint64_t>::max());
      expire_in(lowest, *conn, settings.header_timeout_s);
      co_await bhttp::async_read_header(stream, buffer, head, asio::redirect_error(use_awaitable, ec));
      std::string rid = new_request_id();
      if (ec) {
        if (ec == beast::error::timeout) preauth_expired(*conn);
        if (ec == bhttp::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::operation_aborted ||
            ec == asio::error::eof || ec == asio::error::connection_reset)
          break;
        Response r;
        if (ec == bhttp::error::header_limit)
          r = server_problem(431, "header-too-large",
                             "the request header is larger than " + std::to_string(settings.max_header_bytes) + " bytes",
                             rid);
        else
          r = server_problem(400, "bad-request", "malformed HTTP request: " + ec.message(), rid);
        co_await write_response(stream, r, 11, false, false, rid);
        break;
      }
      conn->in_request = true;  // not evicted from here to its answer
      struct InRequest {
        Conn& c;
        ~InRequest() { c.in_request = false; }
      } in_request{*conn};
      auto& hdr = head.get();
      if (auto it = hdr.find("x-request-id"); it != hdr.end() && good_request_id(it->value()))
        rid = std::string(it->value());
      std::string_view method_sv(hdr.method_string()), target_sv(hdr.target());
      if (for_proxy(hdr)) {
        if (!upstream) upstream.emplace();
        bool again = co_await proxy_request(stream, buffer, head, *upstream, remote_ip, tls, rid, t0, *conn);
        conn->busy = false;
        if (!again) break;
        continue;
      }
      // The caller is known, and allowed, before a byte of the body is read.
      bool over_cap = false;  // the per-user connection cap refused the request
      Admission adm;
      adm.claim = [this, conn, &over_cap](const std::string& user) {
        auto st = claim_slot(*conn, user);
        if (!st) over_cap = true;
        return st;
      };
      const bool has_body = head.chunked() || head.content_length().value_or(0) > 0;
      if (has_body) {
        std::optional<Response> refused = co_await admit_head(hdr, remote_ip, rid, tls, adm);
        if (refused) {
          metrics.connection_cut("unauthorized_body");
          co_await write_response(stream, *refused, hdr.version(), false, false, rid);
          double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
          std::string route = adm.pattern.empty() ? "unmatched" : adm.pattern;
          metrics.observe_request(route, hdr.method_string(), refused->status, secs);
          log_access(request_head(hdr, remote_ip, rid, tls), refused->status, secs, refused->body.size(), route);
          co_await linger_close(stream);
          break;
        }
      }
      std::int64_t body_limit = settings.max_body_bytes;
      if (settings.body_limit_for) body_limit = settings.body_limit_for(method_sv, target_sv);
      if (auto len = head.content_length(); len && *len > static_cast<std::uint64_t>(body_limit)) {
        // Refused with the header, before the body is read.
        Response r = server_problem(
            413, "body-too-large", "the request body is larger than " + std::to_string(body_limit) + " bytes", rid);
        co_await write_response(stream, r, hdr.version(), false, false, rid);
        co_await linger_close(stream);
        break;
      }
      bool spool = settings.spool_body_for && !settings.spool_dir.empty() && settings.spool_body_for(method_sv, target_sv);
      if (spool && settings.spool_reserve_bytes > 0 &&
          free_bytes(settings.spool_dir) - static_cast<std::int64_t>(head.content_length().value_or(0)) <
              settings.spool_reserve_bytes) {
        // The disk keeps its reserve: refused before the body is read.
        metrics.connection_cut("spool_reserve");
        co_await write_response(stream, no_room_problem(rid), hdr.version(), false, false, rid);
        if (has_body) co_await linger_close(stream);
        break;
      }
      if (auto it = hdr.find(bhttp::field::expect); it != hdr.end() && beast::iequals(it->value(), "100-continue")) {
        bhttp::response<bhttp::empty_body> cont{bhttp::status::continue_, hdr.version()};
        co_await bhttp::async_write(stream, cont, asio::redirect_error(use_awaitable, ec));
        if (ec) break;
      }
      // Beast reads at most the buffer's free capacity (at least 512 bytes): a large body gets room
      // for 64 KiB reads (else a 64 MiB upload chunk took 131,072 reads), given back after it.
      if (auto len = head.content_length(); head.chunked() || (len && *len > 4096)) buffer.reserve(64 * 1024);
      bhttp::request<bhttp::string_body> msg;
      SpoolFile spooled;
      bool body_ok = false;
      if (spool) {
        bhttp::request_parser<bhttp::file_body> fp{std::move(head)};
        fp.body_limit(static_cast<std::uint64_t>(body_limit));
        spooled.path = settings.spool_dir + "/body-" + rid + "-" + crypto::hex(crypto::random_bytes(6));
        fp.get().body().open(spooled.path.c_str(), beast::file_mode::write_new, ec);
        if (ec) {
          spdlog::error("cannot spool a request body to {}: {}", spooled.path, ec.message());
          spooled.path.clear();
          co_await write_response(stream, server_problem(503, "unavailable", "cannot store the request body", rid),
                                  fp.get().version(), false, false, rid);
          break;
        }
        body_ok = co_await read_body(stream, buffer, fp, body_limit, rid, true, *conn);
        if (body_ok) {
          fp.get().body().close();
          msg = bhttp::request<bhttp::string_body>(std::move(fp.get().base()));
        }
      } else {
        bhttp::request_parser<bhttp::string_body> sp{std::move(head)};
        sp.body_limit(static_cast<std::uint64_t>(body_limit));
        body_ok = co_await read_body(stream, buffer, sp, body_limit, rid, false, *conn);
        if (body_ok) msg = sp.release();
      }
      if (!body_ok) break;
      Request req = request_head(msg, remote_ip, rid, tls);
      req.body = std::move(msg.body());
      req.body_file = spooled.path;
      Response resp;
      std::string route;
      if (auto st = split_target(req); !st) {
        resp = server_problem(400, "bad-url", st.error().detail, rid);
      } else {
        resp = co_await dispatch(req, adm);
        route = adm.pattern;
      }
      if (req.websocket && resp.websocket && resp.stream && resp.status < 300) {
        double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        metrics.observe_request(route, req.method, 101, secs);  // the upgrade; the WebSocket may last hours
        log_access(req, 101, secs, 0, route);
        co_await run_websocket(stream, msg, resp, rid);
        break;
      }
      bool keep = msg.keep_alive() && !draining && !over_cap;
      co_await write_response(stream, resp, msg.version(), keep, req.method == "HEAD", rid);
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      metrics.observe_request(route.empty() ? "unmatched" : route, req.method, resp.status, secs);  // methods bounded there
      log_access(req, resp.status, secs, resp.body.size(), route);
      conn->busy = false;
      if (buffer.size() == 0 && buffer.capacity() > 16 * 1024) buffer.shrink_to_fit();  // idle connections stay small
      if (!keep) break;
    }
  }

  // Sets req.path and req.query from req.target; an error names what is wrong (400 bad-url).
  static Status split_target(Request& req) {
    if (req.target.empty() || req.target[0] != '/') return invalid("the request target must be an absolute path");
    auto qpos = req.target.find('?');
    req.path = TRY(percent_decode(std::string_view(req.target).substr(0, qpos), false));
    if (qpos != std::string::npos) req.query = TRY(parse_query(std::string_view(req.target).substr(qpos + 1)));
    return {};
  }

  // Api::admit on a request's header, on the worker pool: nullopt = read the body.
  template <class Header>
  awaitable<std::optional<Response>> admit_head(const Header& hdr, const std::string& remote_ip,
                                                const std::string& rid, bool tls, Admission& adm) {
    Request req = request_head(hdr, remote_ip, rid, tls);
    if (auto st = split_target(req); !st) co_return server_problem(400, "bad-url", st.error().detail, rid);
    co_return co_await on_workers([this, &req, &adm] { return api.admit(req, adm); });
  }

  awaitable<void> run_plain(tcp::socket sock, std::shared_ptr<Conn> conn) {
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

  awaitable<void> run_tls(tcp::socket sock, std::shared_ptr<Conn> conn) {
    std::string ip = remote_of(sock);
    beast::ssl_stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(sock)), *ssl);
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

  static std::string remote_of(tcp::socket& s) {
    beast::error_code ec;
    auto ep = s.remote_endpoint(ec);
    return ec ? std::string("unknown") : ep.address().to_string();
  }

  // ---- connection slots

  // Frees the slot `c` holds. Needs conns_mu.
  void release_slot_locked(Conn& c) {
    if (c.slot == Conn::Slot::kIp) {
      if (auto it = by_ip.find(address_key(c.ip)); it != by_ip.end()) {
        it->second.erase(c.seq);
        if (it->second.empty()) by_ip.erase(it);
      }
      unattributed.erase(c.seq);
    } else if (c.slot == Conn::Slot::kUser) {
      if (auto it = by_user.find(c.user); it != by_user.end() && --it->second <= 0) by_user.erase(it);
    }
    if (c.slot != Conn::Slot::kNone) --slots_held;
    c.slot = Conn::Slot::kNone;
  }

  // Closes the oldest connection of `pool` (not yet attributed to a user) that is between
  // requests; false when every one is in a request. Needs conns_mu.
  bool evict_oldest_locked(std::map<std::uint64_t, std::shared_ptr<Conn>>& pool) {
    for (auto& entry : pool) {
      if (entry.second->in_request) continue;
      auto victim = entry.second;  // release_slot_locked erases the entry
      release_slot_locked(*victim);
      asio::post(victim->strand, [victim] {
        if (victim->cancel) victim->cancel();
      });
      metrics.connection_cut("evicted");
      return true;
    }
    return false;
  }

  // A slot for a new connection, counted against its IP until a request authenticates on it.
  // At a cap, the oldest idle stranger (of the IP, or of all) makes room. Needs conns_mu.
  bool take_slot_locked(const std::shared_ptr<Conn>& c) {
    // A trusted reverse proxy carries every client's connections: only max_connections bounds it.
    if (settings.max_connections_per_ip > 0 && !is_trusted(settings.trusted_proxies, c->ip)) {
      auto it = by_ip.find(address_key(c->ip));
      if (it != by_ip.end() && static_cast<int>(it->second.size()) >= settings.max_connections_per_ip &&
          !evict_oldest_locked(it->second)) {
        metrics.connection_cut("per_ip");
        return false;
      }
    }
    if (slots_held >= settings.max_connections && !evict_oldest_locked(unattributed)) {
      metrics.connection_cut("max_connections");
      return false;
    }
    c->seq = ++conn_seq;
    by_ip[address_key(c->ip)].emplace(c->seq, c);
    unattributed.emplace(c->seq, c);
    c->slot = Conn::Slot::kIp;
    ++slots_held;
    return true;
  }

  // Attributes a connection to the user a request authenticated as ("" = a proxied request let
  // through without one): it leaves its IP's count, and the pre-authentication deadline no
  // longer applies. An error: the user holds max_connections_per_user already (429).
  Status claim_slot(Conn& c, const std::string& user) {
    std::lock_guard lock(conns_mu);
    bool same = user.empty() ? (c.slot == Conn::Slot::kUser || c.slot == Conn::Slot::kAnon)
                             : (c.slot == Conn::Slot::kUser && c.user == user);
    if (same) {
      c.admitted = true;
      return {};
    }
    if (!user.empty() && settings.max_connections_per_user > 0) {
      auto it = by_user.find(user);
      if (it != by_user.end() && it->second >= settings.max_connections_per_user) {
        metrics.connection_cut("per_user");
        return fail(Error(ErrorCode::kResourceExhausted, "too-many-connections",
                          "you have " + std::to_string(it->second) +
                              " connections open to this server, the most one user may have; close some")
                        .with("retry_after_s", 5));
      }
    }
    release_slot_locked(c);
    if (user.empty()) {
      c.slot = Conn::Slot::kAnon;
    } else {
      ++by_user[user];
      c.slot = Conn::Slot::kUser;
      c.user = user;
    }
    ++slots_held;
    c.admitted = true;
    return {};
  }

  // Writes the canned 503 without waiting (what the socket buffer takes) and closes.
  static void refuse_busy(tcp::socket& sock) {
    beast::error_code ec;
    sock.non_blocking(true, ec);
    const auto& r = busy_response();
    if (!ec) sock.write_some(asio::buffer(r), ec);
    sock.shutdown(tcp::socket::shutdown_both, ec);
    sock.close(ec);
  }

  awaitable<void> accept_loop() {
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
      if (settings.preauth_timeout_s > 0)
        conn->preauth_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(settings.preauth_timeout_s);
      {
        std::lock_guard lock(conns_mu);
        if (!take_slot_locked(conn)) {
          refuse_busy(sock);  // over a cap: answered without waiting, and closed
          continue;
        }
        conns.insert(conn);
      }
      metrics.connection_opened();
      auto on_done = [this, conn](std::exception_ptr) {
        metrics.connection_closed();
        std::lock_guard lock(conns_mu);
        release_slot_locked(*conn);
        conns.erase(conn);
      };
      if (ssl)
        asio::co_spawn(strand, run_tls(std::move(sock), conn), on_done);
      else
        asio::co_spawn(strand, run_plain(std::move(sock), conn), on_done);
    }
  }

  void begin_shutdown() {
    if (draining.exchange(true)) return;
    spdlog::info("shutting down: no new connections, finishing in-flight requests");
    if (settings.on_drain) settings.on_drain();
    asio::post(io, [this] {
      beast::error_code ec;
      acceptor.close(ec);
      signals.cancel(ec);
    });
    close_idle();
    cancel_streams();
    std::thread([this] {
      auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(settings.shutdown_grace_s);
      for (;;) {
        {
          std::lock_guard lock(conns_mu);
          if (conns.empty()) break;
        }
        if (std::chrono::steady_clock::now() > deadline) {
          spdlog::warn("shutdown grace period over; closing remaining connections");
          break;
        }
        close_idle();
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      io.stop();
      std::lock_guard lock(done_mu);
      done = true;
      done_cv.notify_all();
    }).detach();
  }

  void close_idle() {
    std::lock_guard lock(conns_mu);
    for (auto& c : conns)
      if (!c->busy)
        asio::post(c->strand, [c] {
          if (!c->busy && c->cancel) c->cancel();
        });
  }
};

Server::Server(ServerSettings settings, Api& api, obs::Metrics& metrics, async::Runtime& rt)
    : impl_(std::make_unique<Impl>(std::move(settings), api, metrics, rt)) {}

Server::~Server() {
  if (!impl_->threads.empty()) {
    impl_->io.stop();
    for (auto& t : impl_->threads)
      if (t.joinable()) t.join();
  }
}

Result<unsigned short> Server::start() {
  auto& s = impl_->settings;
  if (!s.tls_cert.empty()) {
    impl_->ssl = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    beast::error_code ec;
    impl_->ssl->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                            asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                            asio::ssl::context::no_tlsv1_1);
    impl_->ssl->use_certificate_chain_file(s.tls_cert, ec);
    if (ec) return invalid("server.tls_cert: cannot load " + s.tls_cert + ": " + ec.message());
    impl_->ssl->use_private_key_file(s.tls_key, asio::ssl::context::pem, ec);
    if (ec) return invalid("server.tls_key: cannot load " + s.tls_key + ": " + ec.message());
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
  if (ec) return fail(ErrorCode::kUnavailable, "listen", "cannot listen on " + s.host + ":" + std::to_string(s.port) + ": " + ec.message());
  unsigned short port = acc.local_endpoint().port();
  if (s.on_bound) s.on_bound(port);  // no I/O thread runs yet
  impl_->signals.add(SIGTERM);
  impl_->signals.add(SIGINT);
  impl_->signals.async_wait([this](const beast::error_code& e, int) {
    if (!e) impl_->begin_shutdown();
  });
  asio::co_spawn(impl_->io, impl_->accept_loop(), asio::detached);
  for (int i = 0; i < std::max(1, s.io_threads); ++i) impl_->threads.emplace_back([this] {
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
  for (auto& t : impl_->threads)
    if (t.joinable()) t.join();
  impl_->threads.clear();
}

}  // namespace atrium::http
