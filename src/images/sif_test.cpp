// The SIF descriptor table parser against hand-made files (the field layout of
// github.com/apptainer/sif pkg/sif), the format sniffer, and unpack_squashfs with the real
// mksquashfs/unsquashfs.
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>

#include <gtest/gtest.h>

#include "core/dir.hpp"
#include "images/sif.hpp"
#include "images/tool.hpp"
#include "images/unpack.hpp"

namespace fs = std::filesystem;
using namespace atrium;
using namespace atrium::images;

namespace {

void put64(std::string& b, std::size_t at, std::int64_t v) {
  for (int i = 0; i < 8; ++i) b[at + i] = static_cast<char>((static_cast<std::uint64_t>(v) >> (8 * i)) & 0xff);
}
void put32(std::string& b, std::size_t at, std::int32_t v) {
  for (int i = 0; i < 4; ++i) b[at + i] = static_cast<char>((static_cast<std::uint32_t>(v) >> (8 * i)) & 0xff);
}

struct Obj {
  std::int32_t datatype = 0x4004;
  bool used = true;
  std::int32_t fstype = 1, parttype = 2;
  std::string data;
  std::optional<std::int64_t> offset_override, size_override;
};

// A SIF: header, then `slots` descriptors (the objects first, then unused ones), then the data.
std::string make_sif(const std::vector<Obj>& objs, std::int64_t slots = 4) {
  std::string b(kSifHeaderSize + slots * kSifDescriptorSize, '\0');
  std::memcpy(b.data(), "#!/usr/bin/env run-singularity\n", 31);
  std::memcpy(b.data() + 32, "SIF_MAGIC\0", 10);
  std::memcpy(b.data() + 42, "01\0", 3);
  std::memcpy(b.data() + 45, "02\0", 3);
  put64(b, 88, slots);
  put64(b, 96, kSifHeaderSize);
  put64(b, 104, slots * kSifDescriptorSize);
  put64(b, 112, static_cast<std::int64_t>(b.size()));
  for (std::size_t i = 0; i < objs.size(); ++i) {
    std::size_t d = kSifHeaderSize + i * kSifDescriptorSize;
    put32(b, d, objs[i].datatype);
    b[d + 4] = objs[i].used ? 1 : 0;
    put32(b, d + 5, static_cast<std::int32_t>(i + 1));
    put64(b, d + 17, objs[i].offset_override.value_or(static_cast<std::int64_t>(b.size())));
    put64(b, d + 25, objs[i].size_override.value_or(static_cast<std::int64_t>(objs[i].data.size())));
    put32(b, d + 201, objs[i].fstype);
    put32(b, d + 205, objs[i].parttype);
    b += objs[i].data;
  }
  return b;
}

std::string fake_squashfs(char fill = 'x') { return "hsqs" + std::string(200, fill); }

Result<Range> parse(const std::string& b) {
  auto read = [&](std::int64_t off, char* buf, std::size_t n) {
    if (off < 0 || static_cast<std::size_t>(off) > b.size() || n > b.size() - static_cast<std::size_t>(off)) return false;
    std::memcpy(buf, b.data() + off, n);
    return true;
  };
  return sif_partition(read, static_cast<std::int64_t>(b.size()));
}

void expect_refused(const std::string& b, const std::string& words) {
  auto r = parse(b);
  ASSERT_FALSE(r) << "accepted: " << words;
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.error().type, "invalid-image");
  EXPECT_NE(r.error().detail.find(words), std::string::npos) << r.error().detail;
}

}  // namespace

TEST(Sif, FindsThePrimarySystemPartition) {
  Obj def{.datatype = 0x4001, .fstype = 0, .parttype = 0, .data = "Bootstrap: docker\n"};
  Obj sys{.parttype = 1, .data = fake_squashfs('s')};
  Obj prim{.parttype = 2, .data = fake_squashfs('p')};
  auto b = make_sif({def, sys, prim});
  auto r = parse(b);
  ASSERT_TRUE(r) << r.error().detail;
  EXPECT_EQ(b.substr(static_cast<std::size_t>(r->offset), static_cast<std::size_t>(r->size)), prim.data);
}

TEST(Sif, FallsBackToASystemPartitionAndSkipsUnusedSlots) {
  Obj unused{.used = false, .offset_override = std::numeric_limits<std::int64_t>::max(), .size_override = 5};
  Obj data{.parttype = 3, .data = fake_squashfs('d')};
  Obj sys{.parttype = 1, .data = fake_squashfs('s')};
  auto b = make_sif({unused, data, sys});
  auto r = parse(b);
  ASSERT_TRUE(r) << r.error().detail;
  EXPECT_EQ(b.substr(static_cast<std::size_t>(r->offset), static_cast<std::size_t>(r->size)), sys.data);
}

TEST(Sif, RefusesWhatIsNotASif) {
  expect_refused("", "shorter than");
  expect_refused(std::string(100, 'a'), "shorter than");
  expect_refused(std::string(4096, 'a'), "SIF_MAGIC");
  auto b = make_sif({Obj{.data = fake_squashfs()}});
  b[43] = '2';
  expect_refused(b, "version");
}

TEST(Sif, RefusesADamagedDescriptorTable) {
  auto good = make_sif({Obj{.data = fake_squashfs()}});
  auto b = good;
  put64(b, 88, 0);
  expect_refused(b, "descriptor count 0");
  b = good;
  put64(b, 88, -1);
  expect_refused(b, "descriptor count -1");
  b = good;
  put64(b, 88, 1LL << 40);
  expect_refused(b, "outside 1..");
  b = good;
  put64(b, 104, 10);
  expect_refused(b, "smaller than");
  b = good;
  put64(b, 96, static_cast<std::int64_t>(good.size()) - 100);
  expect_refused(b, "descriptor table lies outside");
  b = good;
  put64(b, 96, std::numeric_limits<std::int64_t>::max() - 10);
  expect_refused(b, "descriptor table lies outside");
  b = good;
  put64(b, 96, -585);
  expect_refused(b, "descriptor table lies outside");
  expect_refused(good.substr(0, 600), "descriptor table lies outside");  // a truncated file
}

TEST(Sif, RefusesObjectsOutsideTheFile) {
  auto size = static_cast<std::int64_t>(make_sif({Obj{.data = fake_squashfs()}}).size());
  expect_refused(make_sif({Obj{.data = fake_squashfs(), .offset_override = size + 1}}), "points outside the file");
  expect_refused(make_sif({Obj{.data = fake_squashfs(), .size_override = 205}}), "points outside the file");
  expect_refused(make_sif({Obj{.data = fake_squashfs(), .size_override = std::numeric_limits<std::int64_t>::max()}}),
                 "points outside the file");
  expect_refused(make_sif({Obj{.data = fake_squashfs(), .offset_override = -1 - (1LL << 62)}}), "points outside the file");
  // Any used object, not only the partition: a damaged table is refused as a whole.
  Obj def{.datatype = 0x4001, .data = "x", .size_override = 1LL << 50};
  expect_refused(make_sif({def, Obj{.data = fake_squashfs()}}), "descriptor 0 points outside the file");
  // The partition overlapping the header is no squashfs.
  expect_refused(make_sif({Obj{.data = fake_squashfs(), .offset_override = 0, .size_override = 200}}), "too small");
  expect_refused(make_sif({Obj{.data = "hsqs"}}), "too small");
}

TEST(Sif, SaysWhyThereIsNoRoot) {
  expect_refused(make_sif({Obj{.datatype = 0x4001, .data = "def"}}), "no squashfs system partition");
  expect_refused(make_sif({Obj{.fstype = 2, .data = fake_squashfs()}}), "no squashfs system partition");  // ext3
  expect_refused(make_sif({Obj{.parttype = 4, .data = fake_squashfs()}}), "no squashfs system partition");  // overlay
  expect_refused(make_sif({Obj{.fstype = 5, .data = fake_squashfs()}}), "encrypted");
  expect_refused(make_sif({Obj{.data = "HSQS" + std::string(200, 'x')}}), "not a squashfs image");
}

TEST(Sif, SniffsTheFormat) {
  EXPECT_EQ(sniff_format(make_sif({Obj{.data = fake_squashfs()}})), "sif");
  EXPECT_EQ(sniff_format(fake_squashfs()), "squashfs");
  std::string tar(512, '\0');
  std::memcpy(tar.data() + 257, "ustar\0" "00", 8);
  EXPECT_EQ(sniff_format(tar), "tar");
  EXPECT_EQ(sniff_format("\x1f\x8b\x08"), "");
  EXPECT_EQ(sniff_format(""), "");
  EXPECT_EQ(sniff_format(std::string(600, 'z')), "");
}

// unpack_squashfs with the real tools.
class Squashfs : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("atrium-sif-test-" + std::to_string(::getpid()) + "-" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_ / "src/etc");
    std::ofstream(root_ / "src/etc/os-release") << "ID=atrium-test\n";
    std::ifstream rnd("/dev/urandom", std::ios::binary);
    std::string noise(300'000, '\0');
    rnd.read(noise.data(), static_cast<std::streamsize>(noise.size()));
    std::ofstream(root_ / "src/big", std::ios::binary) << noise;  // incompressible: the image is > 300 KB
    fs::create_symlink("/etc/shadow", root_ / "src/shadow");
  }
  void TearDown() override { fs::remove_all(root_); }
  fs::path mksquashfs() {
    auto out = root_ / "img.sqfs";
    auto r = run_tool({"mksquashfs", (root_ / "src").string(), out.string(), "-quiet", "-noappend", "-no-progress"},
                      ToolOptions{.timeout_ms = 60'000, .env = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}});
    EXPECT_TRUE(r && r->status == 0) << (r ? r->err : r.error().detail);
    return out;
  }
  fs::path root_;
};

TEST_F(Squashfs, UnpacksIntoAFreshDirectoryAndKeepsLinksAsLinks) {
  auto img = mksquashfs();
  auto u = unpack_squashfs(img, Range{0, -1}, root_ / "out", UnpackLimits{});
  ASSERT_TRUE(u) << u.error().detail;
  EXPECT_EQ(Dir::open(root_ / "out").value().read_file("rootfs/etc/os-release", 100).value(), "ID=atrium-test\n");
  EXPECT_EQ(fs::read_symlink(root_ / "out/rootfs/shadow"), "/etc/shadow");
  struct stat st{};
  ASSERT_EQ(::stat((root_ / "out").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, ::geteuid());
  EXPECT_EQ(st.st_mode & 0777, 0755u);  // handed back to root once unsquashfs is done
}

TEST_F(Squashfs, ReadsAPartitionAtAnOffset) {
  auto img = mksquashfs();
  std::ifstream f(img, std::ios::binary);
  std::string sq((std::istreambuf_iterator<char>(f)), {});
  std::ofstream(root_ / "wrapped", std::ios::binary) << std::string(4096, 'j') << sq << "trailing signature";
  auto u = unpack_squashfs(root_ / "wrapped", Range{4096, static_cast<std::int64_t>(sq.size())}, root_ / "out", {});
  ASSERT_TRUE(u) << u.error().detail;
  EXPECT_TRUE(fs::exists(root_ / "out/rootfs/etc/os-release"));
  // A range shorter than the squashfs claims: unsquashfs would read past what the digest covers.
  auto short_range = unpack_squashfs(root_ / "wrapped", Range{4096, 200}, root_ / "out2", {});
  ASSERT_FALSE(short_range);
  EXPECT_EQ(short_range.error().code, ErrorCode::kInvalidArgument);
}

TEST_F(Squashfs, RefusesBeyondTheLimitsBeforeWriting) {
  auto img = mksquashfs();
  auto u = unpack_squashfs(img, Range{0, -1}, root_ / "out", UnpackLimits{.max_bytes = 100'000});
  ASSERT_FALSE(u);
  EXPECT_EQ(u.error().type, "image-too-large");
  EXPECT_FALSE(fs::exists(root_ / "out/rootfs"));
  u = unpack_squashfs(img, Range{0, -1}, root_ / "out", UnpackLimits{.max_entries = 3});
  ASSERT_FALSE(u);
  EXPECT_EQ(u.error().type, "image-too-large");
}

TEST_F(Squashfs, RefusesATruncatedImage) {
  auto img = mksquashfs();
  fs::resize_file(img, 3000);
  auto u = unpack_squashfs(img, Range{0, -1}, root_ / "out", {});
  ASSERT_FALSE(u);
  EXPECT_EQ(u.error().code, ErrorCode::kInvalidArgument);
  std::ofstream(root_ / "junk") << "not a squashfs image at all, but long enough to hold a superblock......."
                                << std::string(100, '.');
  u = unpack_squashfs(root_ / "junk", Range{0, -1}, root_ / "out", {});
  ASSERT_FALSE(u);
  EXPECT_NE(u.error().detail.find("hsqs"), std::string::npos) << u.error().detail;
}
