// Dir refuses every symlink a tenant could plant on the way, and never acts on what one points to.
#include "core/dir.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

namespace atrium {
namespace {

namespace fs = std::filesystem;

class DirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("atrium-dir-test-" + std::to_string(::getpid()) + "-" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_ / "tree");
    fs::create_directories(root_ / "outside");
    std::ofstream(root_ / "outside" / "secret") << "secret";
    ::chmod((root_ / "outside").c_str(), 0755);
    ::chmod((root_ / "outside" / "secret").c_str(), 0600);
  }
  void TearDown() override { fs::remove_all(root_); }
  Dir tree() { return *Dir::open(root_ / "tree"); }
  mode_t mode_of(const fs::path& p) {
    struct stat st{};
    EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
    return st.st_mode & 07777;
  }
  fs::path root_;
};

TEST_F(DirTest, MakeDirsCreatesAndSetsModeThroughTheFd) {
  auto d = tree().make_dirs("a/b/c", 0700);
  ASSERT_TRUE(d) << d.error().detail;
  EXPECT_TRUE(fs::is_directory(root_ / "tree/a/b/c"));
  EXPECT_EQ(mode_of(root_ / "tree/a/b/c"), 0700u);
  ASSERT_TRUE(d->write_file("f", "hello", 0640));
  EXPECT_EQ(mode_of(root_ / "tree/a/b/c/f"), 0640u);
  auto again = tree().make_dirs("a/b/c", 0711);  // an existing leaf gets the mode too
  ASSERT_TRUE(again);
  EXPECT_EQ(mode_of(root_ / "tree/a/b/c"), 0711u);
}

TEST_F(DirTest, SymlinkPlantedAtEachStepIsRefusedAndItsTargetUntouched) {
  // A symlink at the first, a middle and the last component of the path.
  for (std::string planted : {"a", "a/b", "a/b/c"}) {
    fs::remove_all(root_ / "tree");
    fs::create_directories(root_ / "tree");
    auto parent = (root_ / "tree" / planted).parent_path();
    fs::create_directories(parent);
    fs::create_directory_symlink(root_ / "outside", root_ / "tree" / planted);
    auto d = tree().make_dirs("a/b/c", 0777);
    EXPECT_FALSE(d) << planted;
    if (!d) {
      EXPECT_EQ(d.error().type, "unsafe-path") << d.error().detail;
    }
    EXPECT_EQ(mode_of(root_ / "outside"), 0755u) << planted;
    EXPECT_FALSE(fs::exists(root_ / "outside/b")) << planted;
    EXPECT_FALSE(tree().write_file("a/b/c/x", "x", 0666)) << planted;
    EXPECT_FALSE(tree().dir("a/b/c")) << planted;
  }
}

TEST_F(DirTest, WriteFileReplacesASymlinkInsteadOfWritingThroughIt) {
  fs::create_symlink(root_ / "outside" / "secret", root_ / "tree" / "token");
  ASSERT_TRUE(tree().write_file("token", "mine", 0400));
  EXPECT_FALSE(fs::is_symlink(root_ / "tree" / "token"));
  std::ifstream f(root_ / "outside" / "secret");
  std::string s((std::istreambuf_iterator<char>(f)), {});
  EXPECT_EQ(s, "secret");
  EXPECT_EQ(mode_of(root_ / "outside" / "secret"), 0600u);
}

TEST_F(DirTest, AbsoluteAndEscapingNamesAreRefused) {
  EXPECT_FALSE(tree().dir("/etc"));
  EXPECT_FALSE(tree().dir("../outside"));
  EXPECT_FALSE(tree().open_file("../outside/secret", O_RDONLY));
  EXPECT_FALSE(tree().write_file("../outside/x", "x", 0644));
  EXPECT_FALSE(fs::exists(root_ / "outside/x"));
}

TEST_F(DirTest, RemoveDeletesLinksNotTheirTargets) {
  fs::create_directories(root_ / "tree/run/deep/er");
  fs::create_directory_symlink(root_ / "outside", root_ / "tree/run/deep/er/link");
  fs::create_symlink(root_ / "outside/secret", root_ / "tree/run/file-link");
  ::chmod((root_ / "tree/run/deep").c_str(), 0);  // a tenant's unreadable directory
  ASSERT_TRUE(tree().remove("run"));
  EXPECT_FALSE(fs::exists(root_ / "tree/run"));
  EXPECT_TRUE(fs::exists(root_ / "outside/secret"));
  EXPECT_TRUE(tree().remove("missing/too"));  // missing is fine
  // The last component itself a symlink to a directory: the link goes, the directory stays.
  fs::create_directory_symlink(root_ / "outside", root_ / "tree/run");
  ASSERT_TRUE(tree().remove("run"));
  EXPECT_TRUE(fs::exists(root_ / "outside/secret"));
}

TEST_F(DirTest, MakeFreshEmptiesWhatATenantLeft) {
  fs::create_directories(root_ / "tree/run");
  fs::create_directory_symlink(root_ / "outside", root_ / "tree/run/jupyter");
  auto d = tree().make_fresh("run", 0700);
  ASSERT_TRUE(d) << d.error().detail;
  EXPECT_TRUE(fs::is_empty(root_ / "tree/run"));
  ASSERT_TRUE(d->make_dirs("jupyter", 0700));
  EXPECT_EQ(mode_of(root_ / "outside"), 0755u);
}

TEST_F(DirTest, ChownTreeNeverFollowsLinksNorTouchesHardLinkedFiles) {
  if (::geteuid() != 0) GTEST_SKIP() << "chown needs root";
  fs::create_directories(root_ / "tree/ws/sub");
  std::ofstream(root_ / "tree/ws/sub/own") << "x";
  fs::create_symlink(root_ / "outside/secret", root_ / "tree/ws/link");
  fs::create_hard_link(root_ / "outside/secret", root_ / "tree/ws/hard");
  auto ws = tree().dir("ws");
  ASSERT_TRUE(ws);
  ASSERT_TRUE(ws->chown_tree({12345, 12345}));
  struct stat st{};
  ASSERT_EQ(::lstat((root_ / "tree/ws/sub/own").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 12345u);
  ASSERT_EQ(::lstat((root_ / "tree/ws").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 12345u);
  ASSERT_EQ(::stat((root_ / "outside/secret").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0u);
}

TEST_F(DirTest, OpenSocketChecksTypeAndOwnerWithoutFollowing) {
  auto listen_at = [](const fs::path& p) {
    int s = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", p.c_str());
    EXPECT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(s, 4), 0);
    return s;
  };
  int other = listen_at(root_ / "outside/other.sock");
  int mine = listen_at(root_ / "tree/app.sock");
  fs::create_symlink(root_ / "outside/other.sock", root_ / "tree/link.sock");
  std::ofstream(root_ / "tree/plain") << "x";
  EXPECT_FALSE(tree().open_socket("link.sock", ::geteuid()));
  EXPECT_FALSE(tree().open_socket("plain", ::geteuid()));
  EXPECT_FALSE(tree().open_socket("app.sock", ::geteuid() + 1));
  auto fd = tree().open_socket("app.sock", ::geteuid());
  ASSERT_TRUE(fd) << fd.error().detail;
  // Connecting through the fd's /proc path reaches this very socket.
  int c = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path, sizeof a.sun_path, "%s", Dir::proc_path(fd->get()).c_str());
  EXPECT_EQ(::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << std::strerror(errno);
  int accepted = ::accept(mine, nullptr, nullptr);
  EXPECT_GE(accepted, 0);
  ::close(accepted);
  ::close(c);
  // By path: the same checks on the last component.
  EXPECT_TRUE(Dir::open_socket_at(root_ / "tree/app.sock", ::geteuid()));
  EXPECT_FALSE(Dir::open_socket_at(root_ / "tree/link.sock", ::geteuid()));
  EXPECT_FALSE(Dir::open_socket_at(root_ / "tree/app.sock", ::geteuid() + 1));
  ::close(mine);
  ::close(other);
}

TEST_F(DirTest, SocketAddressReachesASocketWhosePathIsTooLongForSunPath) {
  auto dir = root_ / "tree" / std::string(120, 'd');
  fs::create_directories(dir);
  auto path = (dir / "app.sock").string();
  ASSERT_GT(path.size(), sizeof(sockaddr_un{}.sun_path));
  auto bound = Dir::socket_address(path, std::nullopt);
  ASSERT_TRUE(bound) << bound.error().detail;
  EXPECT_TRUE(bound->path.starts_with("/proc/self/fd/") && bound->path.ends_with("/app.sock")) << bound->path;
  auto connect_to = [](const std::string& at, bool listen) {
    int s = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", at.c_str());
    int rc = listen ? ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a)
                    : ::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
    EXPECT_EQ(rc, 0) << at << ": " << std::strerror(errno);
    if (listen) EXPECT_EQ(::listen(s, 4), 0);
    return s;
  };
  int server = connect_to(bound->path, true);
  auto short_path = (root_ / "tree/short.sock").string();
  auto plain = Dir::socket_address(short_path, std::nullopt);
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->path, short_path);  // short enough: itself
  auto checked = Dir::socket_address(path, ::geteuid());
  ASSERT_TRUE(checked) << checked.error().detail;  // the owner's socket, by its inode
  int client = connect_to(checked->path, false);
  EXPECT_FALSE(Dir::socket_address(path, ::geteuid() + 1));
  ::close(client);
  ::close(server);
}

TEST_F(DirTest, ReadFileReadsRegularFilesOnlyAndNeverThroughALink) {
  std::ofstream(root_ / "tree/token") << "abcdef";
  fs::create_symlink(root_ / "outside/secret", root_ / "tree/link");
  ASSERT_EQ(::mkfifo((root_ / "tree/fifo").c_str(), 0600), 0);
  auto t = tree().read_file("token", 4);
  ASSERT_TRUE(t) << t.error().detail;
  EXPECT_EQ(*t, "abcd");
  EXPECT_FALSE(tree().read_file("link", 100));
  EXPECT_FALSE(tree().read_file("fifo", 100));  // refused, not blocked on
}

}  // namespace
}  // namespace atrium
