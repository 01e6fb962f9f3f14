// A local request's body: refused by its header when too large or when the spool disk keeps its
// reserve, 100-continue, then read into memory or spooled to a file as it arrives.
#include <utility>  // must precede Asio with g++ 12 + Boost 1.74 coroutines

#include <limits>

#include <sys/statvfs.h>

#include <spdlog/spdlog.h>

#include "core/crypto.hpp"
#include "http/detail/server_impl.hpp"

namespace atrium::http {

using namespace detail;

namespace {

// Free bytes for an unprivileged writer on the file system of `dir`; max when unknown.
std::int64_t free_bytes(const std::string& dir) {
  struct statvfs st {};
  if (::statvfs(dir.c_str(), &st) != 0) return std::numeric_limits<std::int64_t>::max();
  return static_cast<std::int64_t>(st.f_bavail) * static_cast<std::int64_t>(st.f_frsize);
}

}  // namespace

Response Server::Impl::no_room_problem(const std::string& rid) {
  return server_problem(507, "insufficient-storage",
                        "the server's disk has no room for this request body; try again later", rid);
}

// Reads a request's body into `p`. Spooled bodies (to disk) get request_timeout_s per read, so
// that a large push is limited by idleness, not length; others get it for the whole body. On
// failure the error (413, 400) has been answered and the connection should close.
// A spooled body stops when the disk's free space falls to spool_reserve_bytes (507).
template <typename Stream, typename Parser>
awaitable<bool> Server::Impl::read_body(Stream& stream, flat_buffer& buffer, Parser& p, std::int64_t limit,
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

// The body of a request whose header `head` holds, into `msg` (or, for a route that spools,
// into the file `spooled` names). False: refused or failed, answered; the connection closes.
template <typename Stream>
awaitable<bool> Server::Impl::read_request_body(Stream& stream, flat_buffer& buffer, HeadParser& head,
                                                const std::string& rid, Conn& conn, StringRequest& msg,
                                                SpoolFile& spooled) {
  auto& hdr = head.get();
  std::string_view method_sv(hdr.method_string()), target_sv(hdr.target());
  const bool has_body = head.chunked() || head.content_length().value_or(0) > 0;
  std::int64_t body_limit = settings.max_body_bytes;
  if (settings.body_limit_for) body_limit = settings.body_limit_for(method_sv, target_sv);
  if (auto len = head.content_length(); len && *len > static_cast<std::uint64_t>(body_limit)) {
    // Refused with the header, before the body is read.
    Response r = server_problem(413, "body-too-large",
                                "the request body is larger than " + std::to_string(body_limit) + " bytes", rid);
    co_await write_response(stream, r, hdr.version(), false, false, rid);
    co_await linger_close(stream);
    co_return false;
  }
  bool spool = settings.spool_body_for && !settings.spool_dir.empty() && settings.spool_body_for(method_sv, target_sv);
  if (spool && settings.spool_reserve_bytes > 0 &&
      free_bytes(settings.spool_dir) - static_cast<std::int64_t>(head.content_length().value_or(0)) <
          settings.spool_reserve_bytes) {
    // The disk keeps its reserve: refused before the body is read.
    metrics.connection_cut("spool_reserve");
    co_await write_response(stream, no_room_problem(rid), hdr.version(), false, false, rid);
    if (has_body) co_await linger_close(stream);
    co_return false;
  }
  beast::error_code ec;
  if (auto it = hdr.find(bhttp::field::expect); it != hdr.end() && beast::iequals(it->value(), "100-continue")) {
    bhttp::response<bhttp::empty_body> cont{bhttp::status::continue_, hdr.version()};
    co_await bhttp::async_write(stream, cont, asio::redirect_error(use_awaitable, ec));
    if (ec) co_return false;
  }
  // Beast reads at most the buffer's free capacity (at least 512 bytes): a large body gets room
  // for 64 KiB reads (else a 64 MiB upload chunk took 131,072 reads), given back after it.
  if (auto len = head.content_length(); head.chunked() || (len && *len > 4096)) buffer.reserve(64 * 1024);
  if (!spool) {
    bhttp::request_parser<bhttp::string_body> sp{std::move(head)};
    sp.body_limit(static_cast<std::uint64_t>(body_limit));
    if (!co_await read_body(stream, buffer, sp, body_limit, rid, false, conn)) co_return false;
    msg = sp.release();
    co_return true;
  }
  bhttp::request_parser<bhttp::file_body> fp{std::move(head)};
  fp.body_limit(static_cast<std::uint64_t>(body_limit));
  spooled.path = settings.spool_dir + "/body-" + rid + "-" + crypto::hex(crypto::random_bytes(6));
  fp.get().body().open(spooled.path.c_str(), beast::file_mode::write_new, ec);
  if (ec) {
    spdlog::error("cannot spool a request body to {}: {}", spooled.path, ec.message());
    spooled.path.clear();
    co_await write_response(stream, server_problem(503, "unavailable", "cannot store the request body", rid),
                            fp.get().version(), false, false, rid);
    co_return false;
  }
  if (!co_await read_body(stream, buffer, fp, body_limit, rid, true, conn)) co_return false;
  fp.get().body().close();
  msg = StringRequest(std::move(fp.get().base()));
  co_return true;
}

template awaitable<bool> Server::Impl::read_request_body(PlainStream&, flat_buffer&, HeadParser&, const std::string&,
                                                         Conn&, StringRequest&, SpoolFile&);
template awaitable<bool> Server::Impl::read_request_body(TlsStream&, flat_buffer&, HeadParser&, const std::string&,
                                                         Conn&, StringRequest&, SpoolFile&);

}  // namespace atrium::http
