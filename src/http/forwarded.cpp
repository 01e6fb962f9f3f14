#include "http/forwarded.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <utility>

#include <boost/asio/ip/address.hpp>

#include "core/text.hpp"

namespace atrium::http {
namespace {

// The address as 4 or 16 bytes; an IPv4-mapped IPv6 address (::ffff:a.b.c.d) counts as IPv4.
std::optional<std::pair<std::array<unsigned char, 16>, int>> address_bytes(std::string_view text) {
  boost::system::error_code ec;
  auto a = boost::asio::ip::make_address(std::string(text), ec);
  if (ec) return std::nullopt;
  std::array<unsigned char, 16> out{};
  if (a.is_v6() && a.to_v6().is_v4_mapped())
    a = boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, a.to_v6());
  if (a.is_v4()) {
    auto b = a.to_v4().to_bytes();
    std::copy(b.begin(), b.end(), out.begin());
    return std::pair{out, 4};
  }
  auto b = a.to_v6().to_bytes();
  std::copy(b.begin(), b.end(), out.begin());
  return std::pair{out, 16};
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// One X-Forwarded-For element as an address: "[v6]:port", "v4:port" and bare forms.
std::optional<std::string> xff_address(std::string_view e) {
  e = trim(e);
  if (e.starts_with('[')) {
    auto close = e.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    e = e.substr(1, close - 1);
  } else if (std::count(e.begin(), e.end(), ':') == 1) {
    e = e.substr(0, e.find(':'));
  }
  auto b = address_bytes(e);
  if (!b) return std::nullopt;
  // Normalised, so limiters and the audit log see one spelling per address.
  boost::system::error_code ec;
  auto a = boost::asio::ip::make_address(std::string(e), ec);
  if (a.is_v6() && a.to_v6().is_v4_mapped())
    a = boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, a.to_v6());
  return a.to_string();
}

// The comma-separated elements of every field `name` (in order, multiple fields concatenated).
std::vector<std::string_view> list_elements(const Request& req, std::string_view name) {
  std::vector<std::string_view> out;
  for (auto& [k, v] : req.headers) {
    if (k != name) continue;
    std::string_view rest = v;
    for (;;) {
      auto comma = rest.find(',');
      out.push_back(trim(rest.substr(0, comma)));
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  return out;
}

}  // namespace

bool Cidr::contains(std::string_view ip) const {
  auto b = address_bytes(ip);
  if (!b || b->second != len) return false;
  int full = prefix / 8, rest = prefix % 8;
  for (int i = 0; i < full; ++i)
    if (b->first[i] != bytes[i]) return false;
  if (rest) {
    unsigned char mask = static_cast<unsigned char>(0xff << (8 - rest));
    if ((b->first[full] & mask) != (bytes[full] & mask)) return false;
  }
  return true;
}

Result<std::vector<Cidr>> parse_cidrs(std::string_view text) {
  std::vector<Cidr> out;
  std::string item;
  auto flush = [&]() -> Status {
    if (item.empty()) return {};
    std::string addr = item, bits;
    if (auto slash = item.find('/'); slash != std::string::npos) {
      addr = item.substr(0, slash);
      bits = item.substr(slash + 1);
    }
    auto b = address_bytes(addr);
    if (!b) return invalid("'" + item + "' is not an IP address or CIDR block");
    Cidr c;
    c.bytes = b->first;
    c.len = b->second;
    c.prefix = c.len * 8;
    if (!bits.empty()) {
      if (bits.size() > 3 || bits.find_first_not_of("0123456789") != std::string::npos)
        return invalid("'" + item + "': bad prefix length");
      c.prefix = std::stoi(bits);
      // A v4-mapped v6 block (::ffff:10.0.0.0/104) is the IPv4 block it maps.
      if (c.len == 4 && addr.find(':') != std::string::npos) c.prefix -= 96;
      if (c.prefix < 0 || c.prefix > c.len * 8) return invalid("'" + item + "': bad prefix length");
    }
    out.push_back(c);
    item.clear();
    return {};
  };
  for (char ch : text) {
    if (ch == ',' || ch == ' ' || ch == '\t' || ch == '\n') {
      TRY_STATUS(flush());
    } else {
      item += ch;
    }
  }
  TRY_STATUS(flush());
  return out;
}

bool is_trusted(const std::vector<Cidr>& trusted, std::string_view ip) {
  for (auto& c : trusted)
    if (c.contains(ip)) return true;
  return false;
}

std::string address_key(std::string_view ip) {
  std::string text(ip);
  unsigned char b[16];
  if (text.find(':') == std::string::npos || ::inet_pton(AF_INET6, text.c_str(), b) != 1) return text;
  static const unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::equal(b, b + 12, kMapped)) return text;  // an IPv4 client seen through a v6 socket
  std::fill(b + 8, b + 16, 0);
  char out[INET6_ADDRSTRLEN];
  if (!::inet_ntop(AF_INET6, b, out, sizeof out)) return text;
  return std::string(out) + "/64";
}

void apply_forwarded(Request& req, const std::vector<Cidr>& trusted) {
  if (trusted.empty() || !is_trusted(trusted, req.remote_ip)) return;
  // Walk from the nearest hop outwards; the first address no trusted proxy owns is the client.
  auto hops = list_elements(req, "x-forwarded-for");
  std::optional<std::string> client;
  for (auto it = hops.rbegin(); it != hops.rend(); ++it) {
    auto a = xff_address(*it);
    if (!a) break;  // garbage from further out: stop at the last address a trusted hop vouched for
    client = *a;
    if (!is_trusted(trusted, *a)) break;
  }
  if (client) req.remote_ip = *client;
  auto proto = list_elements(req, "x-forwarded-proto");
  if (!proto.empty()) {
    std::string p = to_lower(std::string(proto.back()));
    if (p == "https") req.tls = true;
    else if (p == "http") req.tls = false;
  }
}

}  // namespace atrium::http
