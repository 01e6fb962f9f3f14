#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "core/crypto.hpp"
#include "images/images.hpp"
#include "images/reference.hpp"
#include "images/unpack.hpp"

namespace atrium::images {
namespace {
namespace fs = std::filesystem;

const std::string kD = "sha256:" + std::string(64, 'a');

TEST(Digest, OnlySha256WithLowercaseHex) {
  EXPECT_TRUE(valid_digest(kD));
  EXPECT_FALSE(valid_digest("sha256:" + std::string(64, 'A')));
  EXPECT_FALSE(valid_digest("sha256:" + std::string(63, 'a')));
  EXPECT_FALSE(valid_digest("sha512:" + std::string(64, 'a')));
  EXPECT_FALSE(valid_digest(""));
  EXPECT_EQ(digest_of("abc"), "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Reference, ParsesRegistryReferences) {
  auto r = parse_reference("docker://127.0.0.1:5000/lab/tools:v1");
  ASSERT_TRUE(r) << r.error().detail;
  EXPECT_EQ(r->host, "127.0.0.1:5000");
  EXPECT_EQ(r->repo, "lab/tools");
  EXPECT_EQ(r->tag, "v1");
  EXPECT_EQ(r->text(), "docker://127.0.0.1:5000/lab/tools:v1");
  auto d = parse_reference("ghcr.io/org/img@" + kD);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->digest, kD);
  EXPECT_EQ(d->tag, "");
  EXPECT_EQ(d->pinned(kD), "docker://ghcr.io/org/img@" + kD);
  auto hub = parse_reference("ubuntu");
  ASSERT_TRUE(hub);
  EXPECT_EQ(hub->host, "docker.io");
  EXPECT_EQ(hub->repo, "library/ubuntu");
  EXPECT_EQ(hub->tag, "latest");
  auto local = parse_reference("localhost/x:1");
  ASSERT_TRUE(local);
  EXPECT_EQ(local->host, "localhost");
}

TEST(Reference, RefusesOtherTransportsAndBadNames) {
  for (std::string bad : std::vector<std::string>{"oci:/tmp/layout:x", "docker-archive:/tmp/a.tar", "http://x/y", "", "host.io/UPPER:x",
                          "host.io/a/../b:x", "host.io/a:bad tag", "host.io/a:t@" + kD, "host.io/a@sha256:xyz",
                          "host.io/a:-x"}) {
    auto r = parse_reference(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().extra["field"], "source") << bad;
  }
}

TEST(Manifest, ParsesImagesAndIndexes) {
  auto m = parse_manifest(R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
    "config":{"digest":"sha256:c","size":1},"layers":[{"size":100},{"size":23}]})");
  ASSERT_TRUE(m) << m.error().detail;
  EXPECT_FALSE(m->index);
  EXPECT_EQ(m->layers_bytes, 123);
  EXPECT_EQ(m->layers, 2);
  std::string arm = "sha256:" + std::string(64, 'b'), amd = "sha256:" + std::string(64, 'c'),
              amd_v3 = "sha256:" + std::string(64, 'd');
  auto i = parse_manifest(R"({"schemaVersion":2,"manifests":[
    {"digest":")" + arm + R"(","platform":{"os":"linux","architecture":"arm64"}},
    {"digest":")" + amd_v3 + R"(","platform":{"os":"linux","architecture":"amd64","variant":"v3"}},
    {"digest":")" + amd + R"(","platform":{"os":"linux","architecture":"amd64"}}]})");
  ASSERT_TRUE(i) << i.error().detail;
  EXPECT_TRUE(i->index);
  EXPECT_EQ(*pick_platform(*i, "amd64"), amd);
  EXPECT_EQ(*pick_platform(*i, "arm64"), arm);
  auto none = pick_platform(*i, "s390x");
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().type, "no-matching-platform");
}

TEST(Manifest, RefusesWhatItCannotPull) {
  for (std::string bad : std::vector<std::string>{"not json", "[]", R"({"schemaVersion":1,"fsLayers":[]})", R"({"schemaVersion":2})",
                          R"({"schemaVersion":2,"layers":[{"size":-5}]})",
                          R"({"schemaVersion":2,"manifests":[{"digest":"md5:x"}]})"})
    EXPECT_FALSE(parse_manifest(bad)) << bad;
}

TEST(Hosts, InsecureRegistryGlobs) {
  std::vector<std::string> p = {"127.0.0.1:*", "*.lab.internal"};
  EXPECT_TRUE(host_matches(p, "127.0.0.1:5000"));
  EXPECT_TRUE(host_matches(p, "harbor.lab.internal"));
  EXPECT_FALSE(host_matches(p, "ghcr.io"));
  EXPECT_FALSE(host_matches({}, "127.0.0.1:5000"));
}

class Neutralise : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = fs::temp_directory_path() / ("atrium-images-test-" + crypto::hex(crypto::random_bytes(6)));
    root_ = base_ / "rootfs";
    fs::create_directories(root_ / "bin");
    fs::create_directories(root_ / "etc");
    fs::create_directories(root_ / "usr/lib/python3.11/site-packages/numpy-1.0.dist-info");
    fs::create_directories(root_ / "var/lib/dpkg");
    write(root_ / "bin/tool", "#!/bin/sh\n");
    ::chmod((root_ / "bin/tool").c_str(), 04755);
    write(root_ / "bin/grp", "x");
    ::chmod((root_ / "bin/grp").c_str(), 02755);
    write(root_ / "etc/os-release", "ID=atrium-test\nPRETTY_NAME=\"Atrium test image\"\nBOGUS=1\n");
    write(root_ / "var/lib/dpkg/status", "Package: a\nStatus: x\n\nPackage: b\n");
    // Outside the root: a setuid file a link points at; neither may be touched.
    write(base_ / "outside", "host file");
    ::chmod((base_ / "outside").c_str(), 04755);
    fs::create_symlink(base_ / "outside", root_ / "bin/escape");
    fs::create_symlink("../../outside", root_ / "etc/rel-escape");
    ::mkfifo((root_ / "etc/fifo").c_str(), 0644);
    if (::geteuid() == 0) ::mknod((root_ / "etc/null").c_str(), S_IFCHR | 0666, makedev(1, 3));
  }
  void TearDown() override { fs::remove_all(base_); }
  static void write(const fs::path& p, const std::string& s) { std::ofstream(p) << s; }
  static mode_t mode_of(const fs::path& p) {
    struct stat st{};
    ::lstat(p.c_str(), &st);
    return st.st_mode;
  }
  fs::path base_, root_;
};

TEST_F(Neutralise, RemovesDevicesAndFifosAndClearsSetidBits) {
  Unpacked u;
  ASSERT_TRUE(neutralise(root_, u, {}));
  EXPECT_FALSE(fs::exists(fs::symlink_status(root_ / "etc/fifo")));
  EXPECT_FALSE(fs::exists(fs::symlink_status(root_ / "etc/null")));
  EXPECT_EQ(u.removed_devices, ::geteuid() == 0 ? 2 : 1);
  EXPECT_EQ(mode_of(root_ / "bin/tool") & 07777, 0755u);
  EXPECT_EQ(mode_of(root_ / "bin/grp") & 07777, 0755u);
  EXPECT_EQ(u.cleared_setid, 2);
  // The links stay links; what they point at outside the root is untouched.
  EXPECT_TRUE(fs::is_symlink(root_ / "bin/escape"));
  EXPECT_TRUE(fs::is_symlink(root_ / "etc/rel-escape"));
  EXPECT_EQ(mode_of(base_ / "outside") & 07777, 04755u);
  EXPECT_EQ(mode_of(root_) & 07777, 0755u);
  EXPECT_GT(u.bytes, 0);
}

TEST_F(Neutralise, RefusesTreesOverTheLimits) {
  Unpacked u;
  auto r = neutralise(root_, u, {.max_bytes = 5});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().type, "image-too-large");
  Unpacked v;
  EXPECT_FALSE(neutralise(root_, v, {.max_entries = 3}));
}

TEST_F(Neutralise, DescribesTheSoftware) {
  auto j = describe(root_);
  EXPECT_EQ(j["os"]["ID"], "atrium-test");
  EXPECT_EQ(j["os"]["PRETTY_NAME"], "Atrium test image");
  EXPECT_FALSE(j["os"].contains("BOGUS"));
  EXPECT_EQ(j["packages"]["deb"], 2);
  EXPECT_EQ(j["packages"]["python"], 1);
  EXPECT_EQ(j["python"], "3.11");
}

TEST_F(Neutralise, DescribeNeverFollowsLinksOutOfTheRoot) {
  fs::remove(root_ / "etc/os-release");
  write(base_ / "host-os-release", "ID=host\n");
  fs::create_symlink(base_ / "host-os-release", root_ / "etc/os-release");
  auto j = describe(root_);
  EXPECT_TRUE(j["os"].empty());
}

}  // namespace
}  // namespace atrium::images
