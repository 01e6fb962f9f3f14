// Who the client is behind a reverse proxy: X-Forwarded-For and X-Forwarded-Proto are believed only
// from peers in `server.trusted_proxies` (CIDR blocks), and then only up to the rightmost hop that
// is not itself a trusted proxy, so a client cannot pick its own address or scheme.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "http/message.hpp"

namespace atrium::http {

// An address block: 4-byte (IPv4) or 16-byte (IPv6) prefix.
struct Cidr {
  std::array<unsigned char, 16> bytes{};
  int len = 0;     // bytes used: 4 or 16
  int prefix = 0;  // bits
  bool contains(std::string_view ip) const;
};

// "10.0.0.0/8, 127.0.0.1 ::1/128": comma- or space-separated; a bare address is a /32 or /128.
[[nodiscard]] Result<std::vector<Cidr>> parse_cidrs(std::string_view text);
bool is_trusted(const std::vector<Cidr>& trusted, std::string_view ip);

// The key per-client limits count by (login limiter, lockouts, connection caps): an IPv4 address
// as it is, an IPv6 address as its /64 ("2001:db8:1:2::/64"), since one host is commonly given a
// whole /64 and could otherwise rotate through it. Anything else is returned unchanged.
std::string address_key(std::string_view ip);

// With the connection's peer in `trusted`: sets req.remote_ip to the rightmost X-Forwarded-For
// address that is not a trusted proxy (the leftmost when all are) and req.tls from the last
// X-Forwarded-Proto value ("https" / "http"). Otherwise (or with `trusted` empty) changes nothing:
// the headers are whatever the client wrote.
void apply_forwarded(Request& req, const std::vector<Cidr>& trusted);

}  // namespace atrium::http
