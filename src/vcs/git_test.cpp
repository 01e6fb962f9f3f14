#include "vcs/git.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

namespace atrium::vcs {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/atrium-vcs-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

TEST(GitNames, RefNames) {
  for (const char* ok : {"main", "release/1.0", "feature-x", "a_b", "v1"}) EXPECT_TRUE(valid_ref_name(ok)) << ok;
  for (const char* bad : {"", "/main", "main/", "a..b", "a b", "a~1", "a^", "a:b", "a?", "a*", "a[", "-x", "a.lock",
                          "a/.hidden", "a//b", "@", "a@{1}", "end.", "back\\slash"})
    EXPECT_FALSE(valid_ref_name(bad)) << bad;
}

TEST(GitNames, Paths) {
  EXPECT_EQ(*repo_path("src/main.cpp", "path"), "src/main.cpp");
  EXPECT_EQ(*repo_path("dir/", "path"), "dir");
  EXPECT_EQ(*repo_path("", "path"), "");
  for (const char* bad : {"/etc/passwd", "a/../b", "./a", "a//b", ".git/config", "x/.GIT/hooks", "a\x01"})
    EXPECT_FALSE(repo_path(bad, "path")) << bad;
}

TEST(GitNames, Patterns) {
  EXPECT_TRUE(pattern_matches("main", "main"));
  EXPECT_FALSE(pattern_matches("main", "main2"));
  EXPECT_TRUE(pattern_matches("release/*", "release/1.0"));
  EXPECT_TRUE(pattern_matches("release/*", "release/1/hotfix"));  // as the hook's shell `case`
  EXPECT_FALSE(pattern_matches("release/*", "releases/1"));
  EXPECT_TRUE(pattern_matches("*", "anything"));
}

TEST(GitNames, Binary) {
  EXPECT_FALSE(looks_binary("plain text\n"));
  EXPECT_TRUE(looks_binary(std::string("a\0b", 3)));
}

TEST(Repos, CommitsReadsAndGuardsTheBranchHead) {
  TempDir d;
  Repos repos(d.path / "git");
  ASSERT_TRUE(repos.init());
  const std::string id = "p1";
  ASSERT_TRUE(repos.ensure(id));
  EXPECT_EQ(*repos.default_branch(id), "main");
  EXPECT_FALSE(*repos.resolve(id, "main"));
  Person me{"Ada", "ada@example.org"};

  auto c1 = repos.commit(id, "main", std::nullopt, {{"README.md", "hello\n"}, {"src/a.py", "print(1)\n"}}, me, "first",
                         1'700'000'000'000);
  ASSERT_TRUE(c1 && *c1) << (c1 ? "" : c1.error().detail);
  EXPECT_EQ(*repos.resolve(id, "main"), **c1);
  EXPECT_EQ(*repos.branch_head(id, "main"), **c1);

  auto c2 = repos.commit(id, "main", **c1, {{"src/a.py", "print(2)\n"}}, me, "second", 1'700'000'100'000);
  ASSERT_TRUE(c2 && *c2);
  // The same change again changes nothing.
  auto same = repos.commit(id, "main", **c2, {{"src/a.py", "print(2)\n"}}, me, "again", 1'700'000'200'000);
  ASSERT_TRUE(same);
  EXPECT_FALSE(*same);
  // A commit made against the old head loses: the branch moved.
  auto stale = repos.commit(id, "main", **c1, {{"README.md", "stale\n"}}, me, "stale", 1'700'000'300'000);
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().code, ErrorCode::kPreconditionFailed);
  EXPECT_EQ(*repos.resolve(id, "main"), **c2);

  auto log = repos.log(id, **c2, "", 0, 10);
  ASSERT_TRUE(log);
  ASSERT_EQ(log->size(), 2u);
  EXPECT_EQ((*log)[0]["subject"], "second");
  EXPECT_EQ((*log)[0]["author"]["email"], "ada@example.org");
  EXPECT_EQ((*log)[0]["author"]["time"], 1'700'000'100);
  EXPECT_EQ(repos.log(id, **c2, "README.md", 0, 10)->size(), 1u);

  auto root = repos.tree(id, **c2, "");
  ASSERT_TRUE(root);
  ASSERT_EQ(root->size(), 2u);
  EXPECT_EQ((*root)[0].path, "README.md");
  EXPECT_EQ((*root)[1].type, "tree");
  auto e = repos.entry(id, **c2, "src/a.py");
  ASSERT_TRUE(e && *e);
  EXPECT_EQ((*e)->size, 9);
  EXPECT_EQ(*repos.blob(id, (*e)->id, 1024), "print(2)\n");
  EXPECT_FALSE(*repos.entry(id, **c2, "missing"));

  auto diff = repos.diff(id, **c1, **c2, 1 << 20);
  ASSERT_TRUE(diff);
  ASSERT_EQ((*diff)["files"].size(), 1u);
  EXPECT_EQ((*diff)["files"][0]["path"], "src/a.py");
  EXPECT_EQ((*diff)["files"][0]["status"], "modified");
  EXPECT_EQ((*diff)["files"][0]["additions"], 1);
  EXPECT_NE((*diff)["patch"].get<std::string>().find("+print(2)"), std::string::npos);

  // A file where a directory is (and the reverse) is a conflict, not a broken tree.
  auto conflict = repos.commit(id, "main", **c2, {{"README.md/x", "no"}}, me, "bad", 1'700'000'400'000);
  ASSERT_FALSE(conflict);
  EXPECT_EQ(conflict.error().code, ErrorCode::kAlreadyExists);

  // Deleting, then exporting the tree into a workspace.
  auto c3 = repos.commit(id, "main", **c2, {{"README.md", std::nullopt}}, me, "rm", 1'700'000'500'000);
  ASSERT_TRUE(c3) << c3.error().detail;
  ASSERT_TRUE(*c3);
  fs::create_directories(d.path / "ws");
  ASSERT_TRUE(repos.export_tree(id, **c3, d.path / "ws", static_cast<std::int64_t>(::getuid())));
  EXPECT_FALSE(fs::exists(d.path / "ws" / "README.md"));
  std::ifstream in(d.path / "ws" / "src" / "a.py");
  std::string text((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(text, "print(2)\n");
  EXPECT_FALSE(fs::exists(d.path / "ws" / ".git"));
}

TEST(Repos, ResolveTakesOnlyNamesAndIds) {
  TempDir d;
  Repos repos(d.path / "git");
  ASSERT_TRUE(repos.init());
  ASSERT_TRUE(repos.ensure("p"));
  auto c = repos.commit("p", "main", std::nullopt, {{"f", "x"}}, {"A", "a@b"}, "m", 1'700'000'000'000);
  ASSERT_TRUE(c && *c);
  EXPECT_EQ(*repos.resolve("p", (**c).substr(0, 12)), **c);
  for (const char* odd : {"main~0", "main^", "HEAD@{0}", "--all", ":/m", "main:f"})
    EXPECT_FALSE(*repos.resolve("p", odd)) << odd;
  EXPECT_FALSE(*repos.resolve("missing-project", "main"));
}

}  // namespace
}  // namespace atrium::vcs
