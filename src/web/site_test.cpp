#include "web/site.hpp"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

namespace atrium::web {
namespace {
namespace fs = std::filesystem;

class SiteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("atrium-web-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_ / "assets");
    write("index.html", "<!doctype html><div id=root></div>");
    write("index.html.gz", "GZ-INDEX");
    write("assets/app-abc.js", "console.log(1)");
    write("assets/app-abc.js.br", "BR-APP");
    write("favicon.svg", "<svg/>");
    auto a = Assets::load(dir_);
    ASSERT_TRUE(a) << a.error().detail;
    assets_ = std::move(*a);
  }
  void TearDown() override { fs::remove_all(dir_); }
  void write(const std::string& rel, const std::string& body) { std::ofstream(dir_ / rel) << body; }

  static http::Request get(std::string path, std::vector<std::pair<std::string, std::string>> headers = {}) {
    http::Request r;
    r.method = "GET";
    r.target = r.path = std::move(path);
    r.headers = std::move(headers);
    return r;
  }
  static std::string header(const http::Response& r, std::string_view name) {
    for (auto& [k, v] : r.headers)
      if (k == name) return v;
    return "";
  }

  fs::path dir_;
  Assets assets_;
};

TEST_F(SiteTest, UiRoutesGetIndexWithPolicyAndNoCache) {
  for (auto path : {"/", "/login", "/org/project/tree/main/src", "/jobs/job_1"}) {
    auto r = serve(&assets_, get(path));
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "<!doctype html><div id=root></div>");
    EXPECT_EQ(r->content_type, "text/html; charset=utf-8");
    EXPECT_EQ(header(*r, "Cache-Control"), "no-cache");
    EXPECT_NE(header(*r, "Content-Security-Policy").find("script-src 'self';"), std::string::npos);
    EXPECT_NE(header(*r, "Content-Security-Policy").find("frame-ancestors 'none'"), std::string::npos);
    EXPECT_EQ(header(*r, "X-Frame-Options"), "DENY");
  }
}

TEST_F(SiteTest, ApiGitAndEnvironmentPathsAreNotTheUis) {
  for (auto path : {"/api/v1/nope", "/api", "/org/repo.git/info/refs", "/org/repo.git", "/env/abc/", "/_atrium/auth"})
    EXPECT_FALSE(serve(&assets_, get(path))) << path;
  auto post = get("/login");
  post.method = "POST";
  EXPECT_FALSE(serve(&assets_, post));
  // A page whose name merely contains ".git" is still the UI's.
  EXPECT_TRUE(serve(&assets_, get("/org/my.github-tools")));
}

TEST_F(SiteTest, HashedAssetsAreImmutableAndPrecompressed) {
  auto r = serve(&assets_, get("/assets/app-abc.js", {{"accept-encoding", "gzip, deflate, br"}}));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "BR-APP");
  EXPECT_EQ(header(*r, "Content-Encoding"), "br");
  EXPECT_EQ(header(*r, "Vary"), "Accept-Encoding");
  EXPECT_EQ(header(*r, "Cache-Control"), "public, max-age=31536000, immutable");
  EXPECT_EQ(r->content_type, "text/javascript; charset=utf-8");
  // br refused (q=0) and no .gz: the identity bytes.
  auto plain = serve(&assets_, get("/assets/app-abc.js", {{"accept-encoding", "gzip, br;q=0"}}));
  EXPECT_EQ(plain->body, "console.log(1)");
  EXPECT_EQ(header(*plain, "Content-Encoding"), "");
  EXPECT_NE(header(*plain, "ETag"), header(*r, "ETag"));
  auto gz = serve(&assets_, get("/", {{"accept-encoding", "gzip"}}));
  EXPECT_EQ(gz->body, "GZ-INDEX");
}

TEST_F(SiteTest, MissingAssetIs404AndConditionalGetIs304) {
  auto missing = serve(&assets_, get("/assets/nope.js"));
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  auto first = serve(&assets_, get("/favicon.svg"));
  EXPECT_EQ(first->content_type, "image/svg+xml");
  auto again = serve(&assets_, get("/favicon.svg", {{"if-none-match", header(*first, "ETag")}}));
  EXPECT_EQ(again->status, 304);
  EXPECT_TRUE(again->body.empty());
}

TEST_F(SiteTest, WithoutABuiltUiTheRootSaysHowToBuildIt) {
  auto r = serve(nullptr, get("/"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_NE(r->body.find("make build"), std::string::npos);
  EXPECT_FALSE(Assets::load(dir_ / "nowhere"));
}

TEST_F(SiteTest, SymlinksInTheBuildAreNotServed) {
  fs::create_symlink("/etc/passwd", dir_ / "assets" / "passwd.js");
  auto a = Assets::load(dir_);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->find("/assets/passwd.js"), nullptr);
}

// The terminal page and its files on an environment's origin (under /_atrium/ there), and never
// the terminal page on Atrium's own origin.
TEST_F(SiteTest, TerminalPageOnlyOnEnvironmentOrigins) {
  write("terminal.html", "<!doctype html><main id=terminal-page></main>");
  auto a = Assets::load(dir_);
  ASSERT_TRUE(a);
  auto page = serve_env_page(&*a, get("/_atrium/terminal"));
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_EQ(page->body, "<!doctype html><main id=terminal-page></main>");
  EXPECT_NE(header(*page, "Content-Security-Policy").find("frame-ancestors 'none'"), std::string::npos);
  auto js = serve_env_page(&*a, get("/_atrium/assets/app-abc.js"));
  ASSERT_TRUE(js);
  EXPECT_EQ(js->body, "console.log(1)");
  EXPECT_EQ(header(*js, "Cache-Control"), "public, max-age=31536000, immutable");
  for (auto path : {"/_atrium/assets/nope.js", "/_atrium/auth", "/_atrium/index.html", "/terminal.html", "/"})
    EXPECT_FALSE(serve_env_page(&*a, get(path))) << path;
  EXPECT_FALSE(serve_env_page(nullptr, get("/_atrium/terminal")));
  auto post = get("/_atrium/terminal");
  post.method = "POST";
  EXPECT_FALSE(serve_env_page(&*a, post));
  // On the main origin /terminal.html is the UI's page, not the terminal.
  auto main = serve(&*a, get("/terminal.html"));
  ASSERT_TRUE(main);
  EXPECT_EQ(main->body, "<!doctype html><div id=root></div>");
}

}  // namespace
}  // namespace atrium::web
