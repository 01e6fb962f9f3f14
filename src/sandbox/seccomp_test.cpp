// The job's seccomp allow-list: the prefix rules' arithmetic, and the installed filter's answers
// (in a forked child, which installs it with no_new_privs like the job does).
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <map>
#include <random>
#include <string>

#include <gtest/gtest.h>

#include "sandbox/detail/seccomp.hpp"

namespace atrium::sandbox::detail {
namespace {

int matches(const std::vector<std::pair<std::uint32_t, std::uint32_t>>& rules, std::uint32_t x) {
  int n = 0;
  for (auto [mask, value] : rules) n += (x & mask) == value;
  return n;
}

TEST(ValuesExcept, EveryOtherValueMatchesExactlyOneRule) {
  std::vector<std::uint32_t> except = {0x5412, 0x541C, 0, 0xffffffffu, 0x80000000u};
  auto rules = values_except(except);
  EXPECT_LE(rules.size(), 32 * except.size());
  std::mt19937 rng(7);
  std::vector<std::uint32_t> probes = {1, 2, 0x5411, 0x5413, 0x541B, 0x541D, 0x7fffffffu, 0x80000001u, 0xfffffffeu};
  for (int i = 0; i < 20000; ++i) probes.push_back(static_cast<std::uint32_t>(rng()));
  for (auto x : probes) {
    bool refused = std::find(except.begin(), except.end(), x) != except.end();
    EXPECT_EQ(matches(rules, x), refused ? 0 : 1) << std::hex << x;
  }
  for (auto x : except) EXPECT_EQ(matches(rules, x), 0) << std::hex << x;
}

TEST(ValuesExcept, OneValueNeedsThirtyTwoRules) {
  auto rules = values_except({38});
  EXPECT_EQ(rules.size(), 32u);
  EXPECT_EQ(matches(rules, 38), 0);
  EXPECT_EQ(matches(rules, 39), 1);
}

// errno of each call (0 = it succeeded) from a child that has installed the filter.
std::map<std::string, int> under_filter() {
  auto prog = build_seccomp_filter();
  EXPECT_TRUE(prog.has_value());
  if (!prog) return {};
  int fds[2];
  EXPECT_EQ(::pipe(fds), 0);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    struct sock_fprog fp = {static_cast<unsigned short>(prog->size()), prog->data()};
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fp) != 0)
      ::_exit(99);
    std::string out;
    auto rec = [&](const char* name, long rc) {
      out += std::string(name) + "=" + std::to_string(rc < 0 ? errno : 0) + "\n";
    };
    rec("getpid", ::syscall(SYS_getpid));
    rec("unshare_user", ::syscall(SYS_unshare, CLONE_NEWUSER));
    rec("io_uring_setup", ::syscall(425, 1, nullptr));
    rec("userfaultfd", ::syscall(SYS_userfaultfd, 0));
    rec("modify_ldt", ::syscall(SYS_modify_ldt, 0, nullptr, 0));
    rec("personality_query", ::syscall(SYS_personality, 0xffffffffUL));
    rec("personality_linux", ::syscall(SYS_personality, 0UL));
    rec("personality_no_aslr", ::syscall(SYS_personality, static_cast<unsigned long>(ADDR_NO_RANDOMIZE)));
    rec("tiocsti", ::syscall(SYS_ioctl, 0, TIOCSTI, "x"));
    rec("tiocsti_high_bits", ::syscall(SYS_ioctl, 0, (1UL << 32) | TIOCSTI, "x"));
    rec("af_alg", ::syscall(SYS_socket, 38, SOCK_SEQPACKET, 0));
    rec("af_alg_high_bits", ::syscall(SYS_socket, (1UL << 32) | 38, SOCK_SEQPACKET, 0));
    long s = ::syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0);
    rec("af_unix", s);
    rec("clone_newnet", ::syscall(SYS_clone, CLONE_NEWNET | SIGCHLD, 0, 0, 0, 0));
    rec("clone3", ::syscall(435, nullptr, 0));
    rec("unknown_nr", ::syscall(1000));
    rec("x32_getpid", ::syscall(0x40000000L | SYS_getpid));
    pid_t c = ::fork();
    if (c == 0) ::_exit(0);
    int st = 0;
    rec("fork_wait", c > 0 && ::waitpid(c, &st, 0) == c && WIFEXITED(st) ? 0 : -1);
    (void)!::write(fds[1], out.data(), out.size());
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string text;
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) text.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  int st = 0;
  ::waitpid(pid, &st, 0);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st;
  std::map<std::string, int> res;
  for (size_t i = 0; i < text.size();) {
    size_t eq = text.find('=', i), nl = text.find('\n', i);
    res[text.substr(i, eq - i)] = std::stoi(text.substr(eq + 1, nl - eq - 1));
    i = nl + 1;
  }
  return res;
}

TEST(SeccompFilter, AllowsTheUsualAndRefusesTheRest) {
  auto r = under_filter();
  std::map<std::string, int> want = {
      {"getpid", 0},           {"unshare_user", EPERM},      {"io_uring_setup", EPERM},
      {"userfaultfd", EPERM},  {"modify_ldt", EPERM},        {"personality_query", 0},
      {"personality_linux", 0}, {"personality_no_aslr", EPERM}, {"tiocsti", EPERM},
      {"tiocsti_high_bits", EPERM}, {"af_alg", EPERM},       {"af_alg_high_bits", EPERM},
      {"af_unix", 0},          {"clone_newnet", EPERM},      {"clone3", ENOSYS},
      {"unknown_nr", ENOSYS},  {"x32_getpid", ENOSYS},       {"fork_wait", 0}};
  EXPECT_EQ(r, want);
}

}  // namespace
}  // namespace atrium::sandbox::detail
