#include <gtest/gtest.h>

#include "http/forwarded.hpp"

namespace atrium::http {
namespace {

Request from(std::string peer, std::vector<std::pair<std::string, std::string>> headers, bool tls = false) {
  Request r;
  r.remote_ip = std::move(peer);
  r.headers = std::move(headers);
  r.tls = tls;
  return r;
}

TEST(Forwarded, LimitsCountAnIpv6ClientByItsSlash64) {
  EXPECT_EQ(address_key("192.0.2.7"), "192.0.2.7");
  EXPECT_EQ(address_key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
  EXPECT_EQ(address_key("2001:db8:1:2:bbbb:cccc:dddd:eeee"), "2001:db8:1:2::/64");
  EXPECT_NE(address_key("2001:db8:1:3::1"), address_key("2001:db8:1:2::1"));
  EXPECT_EQ(address_key("::ffff:192.0.2.7"), "::ffff:192.0.2.7");
  EXPECT_EQ(address_key("not an address"), "not an address");
}

TEST(Forwarded, ParsesCidrLists) {
  auto c = parse_cidrs("10.0.0.0/8, 127.0.0.1 ::1/128\tfd00::/8");
  ASSERT_TRUE(c) << c.error().detail;
  ASSERT_EQ(c->size(), 4u);
  EXPECT_TRUE(is_trusted(*c, "10.200.3.4"));
  EXPECT_TRUE(is_trusted(*c, "127.0.0.1"));
  EXPECT_FALSE(is_trusted(*c, "127.0.0.2"));
  EXPECT_TRUE(is_trusted(*c, "::1"));
  EXPECT_TRUE(is_trusted(*c, "fd12::7"));
  EXPECT_TRUE(is_trusted(*c, "::ffff:10.1.2.3"));  // v4-mapped counts as v4
  EXPECT_FALSE(is_trusted(*c, "11.0.0.1"));
  EXPECT_FALSE(is_trusted(*c, "not-an-ip"));
  EXPECT_TRUE(parse_cidrs("")->empty());
  auto odd = parse_cidrs("192.168.1.0/23");
  ASSERT_TRUE(odd);
  EXPECT_TRUE(is_trusted(*odd, "192.168.0.9"));
  EXPECT_FALSE(is_trusted(*odd, "192.168.2.9"));
  for (auto bad : {"10.0.0.0/33", "10.0.0/8", "::1/129", "10.0.0.0/x", "host.example"})
    EXPECT_FALSE(parse_cidrs(bad)) << bad;
}

TEST(Forwarded, UntrustedPeerChangesNothing) {
  auto trusted = *parse_cidrs("10.0.0.1");
  auto r = from("203.0.113.9", {{"x-forwarded-for", "1.2.3.4"}, {"x-forwarded-proto", "https"}});
  apply_forwarded(r, trusted);
  EXPECT_EQ(r.remote_ip, "203.0.113.9");
  EXPECT_FALSE(r.tls);
  auto none = from("10.0.0.1", {{"x-forwarded-for", "1.2.3.4"}, {"x-forwarded-proto", "https"}});
  apply_forwarded(none, {});
  EXPECT_EQ(none.remote_ip, "10.0.0.1");
  EXPECT_FALSE(none.tls);
}

TEST(Forwarded, RightmostUntrustedHopIsTheClient) {
  auto trusted = *parse_cidrs("10.0.0.0/8");
  // The client wrote "6.6.6.6" itself; the proxy appended the address it saw.
  auto r = from("10.0.0.1", {{"x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.0.0.2"}, {"x-forwarded-proto", "https"}});
  apply_forwarded(r, trusted);
  EXPECT_EQ(r.remote_ip, "198.51.100.7");
  EXPECT_TRUE(r.tls);
  // Several header fields are one list; ports and brackets are dropped; v6 is normalised.
  auto v6 = from("10.0.0.1", {{"x-forwarded-for", "6.6.6.6"}, {"x-forwarded-for", "[2001:DB8::1]:443"}});
  apply_forwarded(v6, trusted);
  EXPECT_EQ(v6.remote_ip, "2001:db8::1");
  auto port = from("10.0.0.1", {{"x-forwarded-for", "198.51.100.8:5555"}});
  apply_forwarded(port, trusted);
  EXPECT_EQ(port.remote_ip, "198.51.100.8");
  // Every hop trusted: the outermost.
  auto inner = from("10.0.0.1", {{"x-forwarded-for", "10.1.1.1, 10.2.2.2"}});
  apply_forwarded(inner, trusted);
  EXPECT_EQ(inner.remote_ip, "10.1.1.1");
  // Garbage nearest to us: keep the peer.
  auto junk = from("10.0.0.1", {{"x-forwarded-for", "1.2.3.4, nonsense"}});
  apply_forwarded(junk, trusted);
  EXPECT_EQ(junk.remote_ip, "10.0.0.1");
  // The scheme is the last value (the one our proxy set); http turns TLS off, junk leaves it.
  auto proto = from("10.0.0.1", {{"x-forwarded-proto", "https, http"}}, true);
  apply_forwarded(proto, trusted);
  EXPECT_FALSE(proto.tls);
  auto weird = from("10.0.0.1", {{"x-forwarded-proto", "gopher"}}, true);
  apply_forwarded(weird, trusted);
  EXPECT_TRUE(weird.tls);
}

}  // namespace
}  // namespace atrium::http
