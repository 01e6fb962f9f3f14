// libFuzzer harness for the environment proxy's request handling: raw bytes -> Beast's header
// parser with the server's limits -> what the proxy decides from it without a database: the
// target's environment id and path checks (proxy::parse_target), the cookie filter, the upgrade
// test, and the header rewrite before forwarding (http::rewrite_for_upstream). Invariants: a
// target that passes has a valid env id and no "."/".." or encoded separator segment; the
// filtered Cookie header holds no atrium_* cookie; the rewritten header serializes and parses
// again, with exactly the injected Authorization, no Atrium cookie, and Connection: Upgrade
// exactly for upgrades.
#include <utility>  // must precede Asio/Beast with g++ 12 + Boost 1.74

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include "core/ids.hpp"
#include "core/text.hpp"
#include "http/message.hpp"
#include "http/proxy_header.hpp"
#include "proxy/proxy.hpp"

namespace {

namespace beast = boost::beast;
namespace bhttp = beast::http;
using atrium::to_lower;


void check_target(std::string_view target) {
  auto t = atrium::proxy::parse_target(target);
  if (!t) {
    if (t.error().code != atrium::ErrorCode::kInvalidArgument && t.error().code != atrium::ErrorCode::kNotFound)
      __builtin_trap();
    return;
  }
  if (!atrium::is_id(t->env_id, "env")) __builtin_trap();
  // Every segment after the id decodes to something that is neither "." nor ".." nor holds a separator.
  auto path = target.substr(0, target.find('?'));
  auto rest = path.substr(atrium::proxy::kPrefix.size() + t->env_id.size());
  if (t->needs_slash != rest.empty()) __builtin_trap();
  while (!rest.empty()) {
    rest.remove_prefix(1);  // the '/'
    auto seg = rest.substr(0, rest.find('/'));
    auto d = atrium::http::percent_decode(seg, false);
    if (!d || *d == "." || *d == ".." || d->find_first_of(std::string_view("/\\\0", 3)) != std::string::npos)
      __builtin_trap();
    rest.remove_prefix(seg.size());
  }
}

void check_cookie(std::string_view header) {
  std::string out = atrium::proxy::strip_atrium_cookies(header);
  std::string_view v = out;
  while (!v.empty()) {
    auto part = v.substr(0, v.find(';'));
    v.remove_prefix(std::min(v.size(), part.size() + 1));
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    if (part.empty()) __builtin_trap();  // no empty pieces
    if (to_lower(part.substr(0, part.find('='))).starts_with("atrium")) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  check_target(in.substr(0, in.find('\n')));
  check_cookie(in);

  bhttp::request_parser<bhttp::empty_body> p;
  p.header_limit(16 * 1024);
  p.eager(false);
  beast::error_code ec;
  p.put(boost::asio::buffer(in.data(), in.size()), ec);
  if (ec || !p.is_header_done()) return 0;
  auto& h = p.get();
  std::string target(h.target());
  check_target(target);
  bool ws = beast::websocket::is_upgrade(h);
  atrium::http::ProxyTarget t;
  t.forward = true;
  t.strip = {"authorization", "cookie", "forwarded", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host",
             "x-real-ip"};
  t.add = {{"Authorization", "token secret"}, {"X-Forwarded-For", "127.0.0.1"}};
  if (auto it = h.find(bhttp::field::cookie); it != h.end()) {
    check_cookie(it->value());
    auto kept = atrium::proxy::strip_atrium_cookies(it->value());
    if (!kept.empty()) t.add.emplace_back("Cookie", kept);
  }
  bhttp::request<bhttp::empty_body> out{h};
  atrium::http::rewrite_for_upstream(out, t, ws);
  // Serialize the header and parse it again: it must still be one valid request header.
  std::string wire;
  {
    bhttp::request_serializer<bhttp::empty_body> sr{out};
    sr.split(true);
    sr.next(ec, [&](beast::error_code&, auto const& bufs) {
      for (auto b : beast::buffers_range_ref(bufs)) wire.append(static_cast<const char*>(b.data()), b.size());
      sr.consume(beast::buffer_bytes(bufs));
    });
    if (ec) __builtin_trap();
  }
  bhttp::request_parser<bhttp::empty_body> again;
  again.header_limit(64 * 1024);
  again.eager(false);
  again.put(boost::asio::buffer(wire), ec);
  if (ec || !again.is_header_done()) __builtin_trap();
  auto& g = again.get();
  int auths = 0;
  for (auto& f : g) {
    auto name = to_lower(f.name_string());
    if (name == "authorization") {
      ++auths;
      if (f.value() != "token secret") __builtin_trap();
    }
    if (name == "cookie" && to_lower(f.value()).find("atrium") != std::string::npos) {
      for (auto part = std::string_view(f.value()); !part.empty();) {
        auto piece = part.substr(0, part.find(';'));
        part.remove_prefix(std::min(part.size(), piece.size() + 1));
        while (!piece.empty() && piece.front() == ' ') piece.remove_prefix(1);
        if (to_lower(piece.substr(0, piece.find('='))).starts_with("atrium")) __builtin_trap();
      }
    }
  }
  if (auths != 1) __builtin_trap();
  bool upgrade_conn = g.find(bhttp::field::connection) != g.end() && g[bhttp::field::connection] == "Upgrade";
  if (ws != upgrade_conn) __builtin_trap();
  if (!ws && g.find(bhttp::field::upgrade) != g.end()) __builtin_trap();
  return 0;
}
