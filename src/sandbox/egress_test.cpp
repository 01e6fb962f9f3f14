// The egress rules of outbound sandboxes: parsing the allow-list and the `ip -batch` text.
#include <fstream>

#include <gtest/gtest.h>

#include "sandbox/sandbox.hpp"

namespace atrium::sandbox {
namespace {

TEST(ParseCidrs, CanonicalFormsAndErrors) {
  auto ok = parse_cidrs(" 10.1.2.9/24,192.0.2.7  fd00:1::5/64,\t2001:db8::1 ");
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(*ok, (std::vector<std::string>{"10.1.2.0/24", "192.0.2.7/32", "fd00:1::/64", "2001:db8::1/128"}));
  EXPECT_TRUE(parse_cidrs("")->empty());
  for (const char* bad : {"10.1.2.0/33", "10.1.2", "fd00::/129", "10.0.0.0/", "host.example", "10.0.0.0/8x", "::1/-1"}) {
    auto r = parse_cidrs(bad);
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_NE(r.error().detail.find(bad), std::string::npos) << r.error().detail;
  }
}

TEST(EgressRules, AllowedFirstThenSlirpThenRefusals) {
  auto r = egress_rules({"10.1.2.0/24", "fd00:1::/64"}, {"192.0.2.2", "fd00::2"}, {"10.255.255.53"});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->v4,
            "rule add to 10.1.2.0/24 lookup main priority 100\n"
            "rule add to 10.255.255.53/32 ipproto udp dport 53 lookup main priority 105\n"
            "rule add to 10.255.255.53/32 ipproto tcp dport 53 lookup main priority 105\n"
            "rule add to 10.0.2.2/32 lookup main priority 110\n"
            "rule add to 10.0.2.3/32 lookup main priority 110\n"
            "rule add to 192.0.2.2/32 prohibit priority 200\n"
            "rule add to 10.0.0.0/8 prohibit priority 210\n"
            "rule add to 172.16.0.0/12 prohibit priority 210\n"
            "rule add to 192.168.0.0/16 prohibit priority 210\n"
            "rule add to 100.64.0.0/10 prohibit priority 210\n"
            "rule add to 169.254.0.0/16 prohibit priority 210\n"
            "rule add to 192.0.0.0/24 prohibit priority 210\n"
            "rule add to 198.18.0.0/15 prohibit priority 210\n");
  EXPECT_EQ(r->v6,
            "rule add to fd00:1::/64 lookup main priority 100\n"
            "rule add to fd00::2/128 prohibit priority 200\n"
            "rule add to fe80::/10 prohibit priority 210\n"
            "rule add to fc00::/7 prohibit priority 210\n");
  EXPECT_FALSE(egress_rules({"nonsense"}, {}).has_value());
}

TEST(HostNameservers, ReadsResolvConf) {
  std::string path = ::testing::TempDir() + "/resolv.conf";
  {
    std::ofstream f(path);
    f << "# comment\nsearch example.org\nnameserver 10.255.255.53\nnameserver fe80::1%eth0\nnameserver bogus\n"
         "nameserver 10.255.255.53\noptions ndots:2\n";
  }
  EXPECT_EQ(host_nameservers(path), (std::vector<std::string>{"10.255.255.53", "fe80::1"}));
  EXPECT_TRUE(host_nameservers(path + ".missing").empty());
}

TEST(HostAddresses, NoLoopback) {
  for (const auto& a : host_addresses()) {
    EXPECT_NE(a.rfind("127.", 0), 0u) << a;
    EXPECT_NE(a, "::1");
  }
}

}  // namespace
}  // namespace atrium::sandbox
