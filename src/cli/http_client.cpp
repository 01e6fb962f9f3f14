#include <utility>  // must precede Asio with g++ 12 + Boost 1.74 coroutines

#include "cli/http_client.hpp"

#include <algorithm>
#include <cctype>
#include <exception>
#include <limits>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

namespace atrium::cli {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using asio::awaitable;
using asio::use_awaitable;
using tcp = asio::ip::tcp;

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool valid_port(std::string_view p) {
  if (p.empty() || p.size() > 5) return false;
  if (!std::all_of(p.begin(), p.end(), [](char c) { return c >= '0' && c <= '9'; })) return false;
  int v = std::stoi(std::string(p));
  return v >= 1 && v <= 65535;
}

bool valid_host_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
}

// Where the exchange got to, for error messages.
enum class Phase { kResolve, kConnect, kHandshake, kWrite, kRead };

struct Exchange {
  const Url& url;
  const HttpRequest& request;
  const ClientOptions& options;
  Phase phase = Phase::kResolve;
  HttpResponse response;
};

bhttp::request<bhttp::string_body> make_request(const Url& url, const HttpRequest& r) {
  bhttp::request<bhttp::string_body> req;
  req.version(11);
  req.method_string(r.method);
  req.target(url.base_path + r.target);
  req.set(bhttp::field::host, url.authority());
  req.set(bhttp::field::user_agent, "atrium-cli/0.1.0");
  req.keep_alive(false);
  for (const auto& [name, value] : r.headers) req.set(name, value);
  if (r.body) req.body() = *r.body;
  req.prepare_payload();
  return req;
}

template <typename Stream>
awaitable<void> write_and_read(Exchange& ex, Stream& stream, beast::tcp_stream& lowest) {
  auto req = make_request(ex.url, ex.request);
  ex.phase = Phase::kWrite;
  lowest.expires_after(ex.options.timeout);
  co_await bhttp::async_write(stream, req, use_awaitable);

  ex.phase = Phase::kRead;
  beast::flat_buffer buffer;
  // Beast reads at most the buffer's free capacity (at least 512 bytes): without room reserved a
  // 32 MiB download took 65,536 reads of 512 bytes.
  buffer.reserve(64 * 1024);
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(static_cast<std::uint64_t>(ex.options.max_body_bytes));
  parser.header_limit(64 * 1024);
  if (ex.request.method == "HEAD") parser.skip(true);
  lowest.expires_after(ex.options.timeout);
  co_await bhttp::async_read(stream, buffer, parser, use_awaitable);

  auto& res = parser.get();
  ex.response.status = static_cast<int>(res.result_int());
  for (const auto& field : res) ex.response.headers.emplace_back(lower(field.name_string()), std::string(field.value()));
  ex.response.body = std::move(res.body());
}

awaitable<void> run_exchange(Exchange& ex, asio::ssl::context* tls) {
  auto executor = co_await asio::this_coro::executor;
  tcp::resolver resolver(executor);
  ex.phase = Phase::kResolve;
  auto endpoints = co_await resolver.async_resolve(ex.url.host, ex.url.port, use_awaitable);

  if (!tls) {
    beast::tcp_stream stream(executor);
    ex.phase = Phase::kConnect;
    stream.expires_after(ex.options.timeout);
    co_await stream.async_connect(endpoints, use_awaitable);
    co_await write_and_read(ex, stream, stream);
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    co_return;
  }

  beast::ssl_stream<beast::tcp_stream> stream(executor, *tls);
  auto& lowest = beast::get_lowest_layer(stream);
  boost::system::error_code ec;
  (void)asio::ip::make_address(ex.url.host, ec);
  if (ec) {  // SNI carries names only, never IP literals (RFC 6066)
    if (!SSL_set_tlsext_host_name(stream.native_handle(), ex.url.host.c_str()))
      throw boost::system::system_error(static_cast<int>(::ERR_get_error()), asio::error::get_ssl_category());
  }
  if (!ex.options.insecure) {
    stream.set_verify_mode(asio::ssl::verify_peer);
    stream.set_verify_callback(asio::ssl::host_name_verification(ex.url.host));
  } else {
    stream.set_verify_mode(asio::ssl::verify_none);
  }
  ex.phase = Phase::kConnect;
  lowest.expires_after(ex.options.timeout);
  co_await lowest.async_connect(endpoints, use_awaitable);
  ex.phase = Phase::kHandshake;
  lowest.expires_after(ex.options.timeout);
  co_await stream.async_handshake(asio::ssl::stream_base::client, use_awaitable);
  co_await write_and_read(ex, stream, lowest);
  // The whole response is in; a polite close_notify, but a peer that just drops us is fine.
  lowest.expires_after(std::chrono::seconds(2));
  try {
    co_await stream.async_shutdown(use_awaitable);
  } catch (const boost::system::system_error&) {
  }
}

std::string phase_text(Phase p, const Url& url) {
  switch (p) {
    case Phase::kResolve: return "cannot resolve " + url.host;
    case Phase::kConnect: return "cannot connect to " + url.to_string();
    case Phase::kHandshake: return "TLS handshake with " + url.to_string() + " failed";
    case Phase::kWrite: return "sending the request to " + url.to_string() + " failed";
    case Phase::kRead: return "reading the response from " + url.to_string() + " failed";
  }
  return "request failed";
}

}  // namespace

std::string Url::authority() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  if (explicit_port && port != (tls ? "443" : "80")) h += ":" + port;
  return h;
}

std::string Url::to_string() const { return std::string(tls ? "https://" : "http://") + authority() + base_path; }

Result<Url> parse_url(std::string_view text) {
  auto bad = [&](std::string why) {
    return invalid("bad server URL '" + std::string(text) + "': " + why);
  };
  Url url;
  std::string_view rest;
  std::string lowered = lower(text.substr(0, std::min<std::size_t>(text.size(), 8)));
  if (lowered.starts_with("https://")) {
    url.tls = true;
    rest = text.substr(8);
  } else if (lowered.starts_with("http://")) {
    rest = text.substr(7);
  } else {
    return bad("expected http:// or https://");
  }
  auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
  if (authority.find('@') != std::string_view::npos) return bad("user info is not supported");
  if (path.find_first_of("?#") != std::string_view::npos || authority.find_first_of("?#") != std::string_view::npos)
    return bad("a query or fragment is not allowed");
  std::string_view port;
  if (authority.starts_with("[")) {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return bad("unterminated IPv6 address");
    url.host = std::string(authority.substr(1, close - 1));
    auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return bad("junk after the IPv6 address");
      port = after.substr(1);
      url.explicit_port = true;
    }
    if (url.host.empty() || !std::all_of(url.host.begin(), url.host.end(), [](char c) {
          return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.';
        }))
      return bad("bad IPv6 address");
  } else {
    auto colon = authority.rfind(':');
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      url.explicit_port = true;
      authority = authority.substr(0, colon);
    }
    url.host = lower(authority);
    if (url.host.empty()) return bad("no host");
    if (!std::all_of(url.host.begin(), url.host.end(), valid_host_char)) return bad("bad host name");
  }
  if (url.explicit_port) {
    if (!valid_port(port)) return bad("bad port");
    url.port = std::string(port);
  } else {
    url.port = url.tls ? "443" : "80";
  }
  std::string p(path);
  while (!p.empty() && p.back() == '/') p.pop_back();
  for (char c : p)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return bad("bad character in the path");
  url.base_path = std::move(p);
  return url;
}

std::optional<std::string_view> HttpResponse::header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers)
    if (name == lower_name) return std::string_view(value);
  return std::nullopt;
}

std::vector<std::string_view> HttpResponse::all_headers(std::string_view lower_name) const {
  std::vector<std::string_view> out;
  for (const auto& [name, value] : headers)
    if (name == lower_name) out.emplace_back(value);
  return out;
}

Result<HttpResponse> http_send(const Url& server, const HttpRequest& request, const ClientOptions& options) {
  asio::io_context ioc;
  std::optional<asio::ssl::context> tls;
  if (server.tls) {
    tls.emplace(asio::ssl::context::tls_client);
    tls->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                     asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
    boost::system::error_code ec;
    tls->set_default_verify_paths(ec);  // honours SSL_CERT_FILE / SSL_CERT_DIR
    if (ec && !options.insecure)
      return fail(ErrorCode::kUnavailable, "tls-error", "cannot load the system CA certificates: " + ec.message());
  }
  Exchange ex{server, request, options};
  std::exception_ptr failure;
  asio::co_spawn(ioc, run_exchange(ex, tls ? &*tls : nullptr), [&](std::exception_ptr e) { failure = e; });
  ioc.run();
  if (!failure) return std::move(ex.response);
  try {
    std::rethrow_exception(failure);
  } catch (const boost::system::system_error& e) {
    std::string detail = phase_text(ex.phase, server);
    if (e.code() == beast::error::timeout) return fail(ErrorCode::kUnavailable, "timeout", detail + ": timed out");
    if (e.code() == bhttp::error::body_limit)
      return fail(ErrorCode::kUnavailable, "response-too-large", detail + ": the response is too large");
    detail += ": " + e.code().message();
    if (ex.phase == Phase::kHandshake && !options.insecure)
      detail += " (check the server's certificate, SSL_CERT_FILE, or pass --insecure to skip verification)";
    return fail(ErrorCode::kUnavailable, ex.phase == Phase::kHandshake ? "tls-error" : "connection-failed", detail);
  } catch (const std::exception& e) {
    return fail(ErrorCode::kUnavailable, "connection-failed", phase_text(ex.phase, server) + ": " + e.what());
  }
}

}  // namespace atrium::cli
