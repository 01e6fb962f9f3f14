// The egress rules of an outbound sandbox network namespace (sandbox.hpp). Policy routing rather
// than a firewall: iproute2 is everywhere, no nft/iptables binary is needed, and a "prohibit" rule
// answers connect() with EACCES at once, so a refusal is visibly local (no packet, no timeout).
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "sandbox/sandbox.hpp"

namespace atrium::sandbox {
namespace {

struct Cidr {
  int family = AF_INET;
  unsigned char bytes[16] = {};
  int len = 32;
  std::string text() const {
    char buf[INET6_ADDRSTRLEN];
    ::inet_ntop(family, bytes, buf, sizeof buf);
    return fmt::format("{}/{}", buf, len);
  }
};

Result<Cidr> parse_cidr(std::string_view item) {
  auto bad = [&](std::string why) { return invalid(fmt::format("'{}': {}", item, why)); };
  Cidr c;
  std::string addr(item.substr(0, item.find('/')));
  c.family = addr.find(':') != std::string::npos ? AF_INET6 : AF_INET;
  if (::inet_pton(c.family, addr.c_str(), c.bytes) != 1) return bad("not an IPv4 or IPv6 address");
  int max = c.family == AF_INET ? 32 : 128;
  c.len = max;
  if (auto slash = item.find('/'); slash != std::string_view::npos) {
    auto len = item.substr(slash + 1);
    auto [p, ec] = std::from_chars(len.data(), len.data() + len.size(), c.len);
    if (len.empty() || ec != std::errc() || p != len.data() + len.size() || c.len < 0 || c.len > max)
      return bad(fmt::format("the prefix length must be 0..{}", max));
  }
  for (int bit = c.len; bit < max; ++bit) c.bytes[bit / 8] &= static_cast<unsigned char>(~(0x80 >> (bit % 8)));
  return c;
}

// Never reached from an outbound sandbox unless allowed: RFC 1918, shared address space (RFC 6598,
// carrier NAT and some clouds' internal ranges), link-local (169.254.169.254 is the cloud metadata
// service), IETF protocol assignments and benchmarking; IPv6 link-local and unique local.
constexpr const char* kDeniedV4[] = {"10.0.0.0/8",   "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",
                                     "169.254.0.0/16", "192.0.0.0/24", "198.18.0.0/15"};
constexpr const char* kDeniedV6[] = {"fe80::/10", "fc00::/7"};
// slirp4netns' gateway and DNS forwarder (its network is 10.0.2.0/24). The gateway must stay
// routable: the kernel checks the default route's gateway through these rules when slirp adds it.
// slirp itself answers the gateway (the host's loopback, with --disable-host-loopback) and the
// forwarder's ports other than 53 with "network unreachable". The rest of 10.0.2.0/24 is refused
// with 10/8.
constexpr const char* kSlirpHosts[] = {"10.0.2.2", "10.0.2.3"};

}  // namespace

Result<std::vector<std::string>> parse_cidrs(std::string_view text) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < text.size()) {
    size_t j = text.find_first_of(", \t\n", i);
    if (j == std::string_view::npos) j = text.size();
    if (j > i) {
      auto c = parse_cidr(text.substr(i, j - i));
      if (!c) return std::unexpected(c.error());
      out.push_back(c->text());
    }
    i = j + 1;
  }
  return out;
}

Result<EgressRules> egress_rules(const std::vector<std::string>& allow, const std::vector<std::string>& host_addresses,
                                 const std::vector<std::string>& nameservers) {
  EgressRules r;
  auto add = [&](const std::string& cidr, const char* action, int priority) -> Status {
    auto c = parse_cidr(cidr);
    if (!c) return std::unexpected(c.error());
    (c->family == AF_INET ? r.v4 : r.v6) += fmt::format("rule add to {} {} priority {}\n", c->text(), action, priority);
    return {};
  };
  // Lower priorities are looked at first: what is allowed, then slirp's own network, then the refusals.
  for (const auto& a : allow) TRY_STATUS(add(a, "lookup main", 100));
  // The sandbox reads the host's /etc/resolv.conf: its name servers, often private, on port 53 only.
  for (const auto& ns : nameservers)
    for (const char* proto : {"udp", "tcp"})
      TRY_STATUS(add(ns, fmt::format("ipproto {} dport 53 lookup main", proto).c_str(), 105));
  for (const char* h : kSlirpHosts) TRY_STATUS(add(h, "lookup main", 110));
  for (const auto& h : host_addresses) TRY_STATUS(add(h, "prohibit", 200));
  for (const char* d : kDeniedV4) TRY_STATUS(add(d, "prohibit", 210));
  for (const char* d : kDeniedV6) TRY_STATUS(add(d, "prohibit", 210));
  return r;
}

std::vector<std::string> host_nameservers(const std::string& resolv_conf) {
  std::vector<std::string> out;
  std::ifstream in(resolv_conf);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string key, addr;
    if (!(words >> key >> addr) || key != "nameserver") continue;
    addr = addr.substr(0, addr.find('%'));  // fe80::1%eth0
    if (parse_cidr(addr) && std::find(out.begin(), out.end(), addr) == out.end()) out.push_back(addr);
  }
  return out;
}

std::vector<std::string> host_addresses() {
  std::vector<std::string> out;
  struct ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return out;
  for (auto* a = list; a; a = a->ifa_next) {
    if (!a->ifa_addr) continue;
    char buf[INET6_ADDRSTRLEN] = {};
    if (a->ifa_addr->sa_family == AF_INET) {
      auto* in = reinterpret_cast<sockaddr_in*>(a->ifa_addr);
      if ((ntohl(in->sin_addr.s_addr) >> 24) == 127) continue;
      ::inet_ntop(AF_INET, &in->sin_addr, buf, sizeof buf);
    } else if (a->ifa_addr->sa_family == AF_INET6) {
      auto* in6 = reinterpret_cast<sockaddr_in6*>(a->ifa_addr);
      if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr)) continue;
      ::inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof buf);
    } else {
      continue;
    }
    std::string s(buf);
    if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
  }
  ::freeifaddrs(list);
  return out;
}

}  // namespace atrium::sandbox
