#include "data/uploads.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "core/crypto.hpp"

namespace atrium::data {
namespace {
namespace fs = std::filesystem;

struct Fixture {
  fs::path dir;
  std::optional<MasterKey> key;
  std::unique_ptr<BlobStore> store;
  Fixture() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir = fs::path(::testing::TempDir()) / ("atrium_uploads_" + std::string(info->name()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    auto k = MasterKey::create(dir / "master.key");
    EXPECT_TRUE(k);
    key = std::move(*k);
    auto k2 = MasterKey::load(dir / "master.key");
    auto s = BlobStore::open(std::move(*k2), local_backend(dir / "blobs"));
    EXPECT_TRUE(s);
    store = std::move(*s);
  }
  fs::path stage(const std::string& id) const { return dir / (id + ".stage"); }
};

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}

std::string payload(std::size_t n) {
  std::string s;
  while (s.size() < n) s += "PLAINTEXT-UPLOAD-MARKER-" + std::to_string(s.size()) + ";";
  s.resize(n);
  return s;
}

TEST(Uploads, OffsetRules) {
  EXPECT_TRUE(check_chunk(100, 0, 0, 100));
  EXPECT_TRUE(check_chunk(100, 40, 40, 60));
  EXPECT_TRUE(check_chunk(100, 100, 100, 0));
  auto behind = check_chunk(100, 40, 20, 10);
  ASSERT_FALSE(behind);
  EXPECT_EQ(behind.error().type, "offset-mismatch");
  EXPECT_EQ(behind.error().extra.at("offset"), 40);
  EXPECT_EQ(check_chunk(100, 40, 50, 10).error().type, "offset-mismatch");
  auto past = check_chunk(100, 40, 40, 61);
  ASSERT_FALSE(past);
  EXPECT_EQ(past.error().type, "beyond-size");
  EXPECT_FALSE(check_chunk(100, 0, -1, 1));
  EXPECT_FALSE(check_chunk(100, 0, 0, -1));
}

TEST(Uploads, ChunksResumeAfterReopenAndFinishIntoTheStore) {
  Fixture f;
  std::string data = payload(300'000);
  auto st = Staging::create(*f.key, f.stage("u1"), "u1", static_cast<std::int64_t>(data.size()));
  ASSERT_TRUE(st) << st.error().detail;
  ASSERT_TRUE(st->append(0, std::string_view(data).substr(0, 100'000)));
  Staging::State saved = st->state();  // what the database row would hold
  EXPECT_EQ(saved.offset, 100'000);
  // "Restart": reopen from the row and go on; a stale offset is refused with the current one.
  auto again = Staging::open(*f.key, f.stage("u1"), "u1", saved);
  ASSERT_TRUE(again) << again.error().detail;
  auto stale = again->append(0, "x");
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().extra.at("offset"), 100'000);
  ASSERT_TRUE(again->append(100'000, std::string_view(data).substr(100'000, 150'000)));
  auto early = again->finish(*f.store, std::nullopt);
  ASSERT_FALSE(early);
  EXPECT_EQ(early.error().type, "upload-incomplete");
  ASSERT_TRUE(again->append(250'000, std::string_view(data).substr(250'000)));
  // In progress, the staging file never held the plaintext.
  EXPECT_EQ(slurp(f.stage("u1")).find("PLAINTEXT-UPLOAD-MARKER"), std::string::npos);
  auto info = again->finish(*f.store, crypto::sha256_hex(data));
  ASSERT_TRUE(info) << info.error().detail;
  EXPECT_EQ(info->id, crypto::sha256_hex(data));
  EXPECT_EQ(*f.store->get(info->id), data);
  ASSERT_TRUE(again->discard());
  EXPECT_FALSE(fs::exists(f.stage("u1")));
}

TEST(Uploads, ATornFrameAfterACrashIsCutOff) {
  Fixture f;
  std::string data = payload(5000);
  auto st = Staging::create(*f.key, f.stage("u2"), "u2", 5000);
  ASSERT_TRUE(st);
  ASSERT_TRUE(st->append(0, std::string_view(data).substr(0, 2000)));
  Staging::State row = st->state();
  // The chunk 2000..3000 reached the file but the crash came before its row was updated.
  ASSERT_TRUE(st->append(2000, std::string_view(data).substr(2000, 1000)));
  { std::ofstream(f.stage("u2"), std::ios::binary | std::ios::app) << "half a frame"; }
  auto resumed = Staging::open(*f.key, f.stage("u2"), "u2", row);
  ASSERT_TRUE(resumed);
  ASSERT_TRUE(resumed->append(2000, std::string_view(data).substr(2000)));
  auto info = resumed->finish(*f.store, crypto::sha256_hex(data));
  ASSERT_TRUE(info) << info.error().detail;
  EXPECT_EQ(*f.store->get(info->id), data);
}

TEST(Uploads, AWrongHashOrTamperedStagingStoresNothing) {
  Fixture f;
  std::string data = payload(10'000);
  auto st = Staging::create(*f.key, f.stage("u3"), "u3", 10'000);
  ASSERT_TRUE(st);
  ASSERT_TRUE(st->append(0, std::string_view(data).substr(0, 4000)));
  ASSERT_TRUE(st->append(4000, std::string_view(data).substr(4000)));
  auto wrong = st->finish(*f.store, std::string(64, '0'));
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().type, "hash-mismatch");
  EXPECT_TRUE(f.store->list()->empty());

  std::string raw = slurp(f.stage("u3"));
  raw[raw.size() / 2] ^= 0x20;
  std::ofstream(f.stage("u3"), std::ios::binary | std::ios::trunc) << raw;
  auto bad = st->finish(*f.store, std::nullopt);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().type, "corrupt-upload");
  EXPECT_TRUE(f.store->list()->empty());
}

TEST(Uploads, FramesAreBoundToTheirUploadAndOffset) {
  Fixture f;
  auto a = Staging::create(*f.key, f.stage("ua"), "ua", 6);
  ASSERT_TRUE(a);
  ASSERT_TRUE(a->append(0, "abc"));
  ASSERT_TRUE(a->append(3, "def"));
  // Another upload's row pointing at this file: its key does not open, nor would its frames.
  auto other = Staging::open(*f.key, f.stage("ua"), "ub", a->state());
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().type, "corrupt-upload");
  // Swapping the two frames (same length) fails: each frame's offset is authenticated.
  std::string raw = slurp(f.stage("ua"));
  std::size_t half = raw.size() / 2;
  std::ofstream(f.stage("ua"), std::ios::binary | std::ios::trunc) << raw.substr(half) + raw.substr(0, half);
  auto swapped = a->finish(*f.store, std::nullopt);
  ASSERT_FALSE(swapped);
  EXPECT_EQ(swapped.error().type, "corrupt-upload");
}

TEST(Uploads, EmptyUpload) {
  Fixture f;
  auto st = Staging::create(*f.key, f.stage("u0"), "u0", 0);
  ASSERT_TRUE(st);
  auto info = st->finish(*f.store, crypto::sha256_hex(""));
  ASSERT_TRUE(info) << info.error().detail;
  EXPECT_EQ(info->size, 0);
}

}  // namespace
}  // namespace atrium::data
