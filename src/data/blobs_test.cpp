#include "data/blobs.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "core/crypto.hpp"

namespace atrium::data {
namespace {
namespace fs = std::filesystem;

fs::path fresh_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  auto dir = fs::path(::testing::TempDir()) / ("atrium_blobs_" + std::string(info->name()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}

void spit(const fs::path& p, const std::string& s) { std::ofstream(p, std::ios::binary | std::ios::trunc) << s; }

struct Fixture {
  fs::path dir = fresh_dir();
  fs::path key_file = dir / "master.key";
  std::unique_ptr<BlobStore> store;
  Fixture() {
    auto k = MasterKey::create(key_file);
    EXPECT_TRUE(k) << k.error().detail;
    auto s = BlobStore::open(std::move(*k), local_backend(dir / "blobs"));
    EXPECT_TRUE(s) << s.error().detail;
    store = std::move(*s);
  }
  fs::path object(const std::string& id) const { return dir / "blobs" / "objects" / id.substr(0, 2) / id; }
};

std::string pattern(std::size_t n, char seed = 'a') {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>(seed + (i * 7 + i / 13) % 26);
  return s;
}

TEST(Blobs, RoundTripAtChunkEdges) {
  Fixture f;
  constexpr std::size_t C = BlobStore::kChunk;
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, C - 1, C, C + 1, 3 * C + 5}) {
    std::string data = pattern(n);
    auto info = f.store->put(data);
    ASSERT_TRUE(info) << info.error().detail;
    EXPECT_EQ(info->id, crypto::sha256_hex(data)) << n;
    EXPECT_EQ(info->size, static_cast<std::int64_t>(n));
    auto back = f.store->get(info->id);
    ASSERT_TRUE(back) << n << ": " << back.error().detail;
    EXPECT_EQ(*back, data) << n;
    EXPECT_TRUE(f.store->verify(info->id));
  }
}

TEST(Blobs, StreamedWritesInOddPiecesEqualOnePut) {
  Fixture f;
  std::string data = pattern(5 * BlobStore::kChunk + 123, 'k');
  auto w = f.store->writer();
  ASSERT_TRUE(w);
  for (std::size_t at = 0, step = 1; at < data.size(); at += step, step = step * 3 % 100'003 + 1)
    ASSERT_TRUE(w->write(std::string_view(data).substr(at, step)));
  auto info = w->finish(crypto::sha256_hex(data));
  ASSERT_TRUE(info) << info.error().detail;
  EXPECT_EQ(*f.store->get(info->id), data);
}

TEST(Blobs, IdenticalContentIsStoredOnce) {
  Fixture f;
  auto a = f.store->put("same bytes");
  auto b = f.store->put("same bytes");
  ASSERT_TRUE(a && b);
  EXPECT_FALSE(a->existed);
  EXPECT_TRUE(b->existed);
  EXPECT_EQ(a->id, b->id);
  EXPECT_EQ(f.store->list()->size(), 1u);
}

TEST(Blobs, HashMismatchStoresNothing) {
  Fixture f;
  auto w = f.store->writer();
  ASSERT_TRUE(w);
  ASSERT_TRUE(w->write("payload"));
  auto r = w->finish(std::string(64, '0'));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().type, "hash-mismatch");
  EXPECT_TRUE(f.store->list()->empty());
  EXPECT_TRUE(fs::is_empty(f.dir / "blobs" / "tmp"));  // the temp file is gone too
}

TEST(Blobs, AnAbandonedWriterLeavesNothing) {
  Fixture f;
  {
    auto w = f.store->writer();
    ASSERT_TRUE(w);
    ASSERT_TRUE(w->write(pattern(3 * BlobStore::kChunk)));
  }
  EXPECT_TRUE(f.store->list()->empty());
  EXPECT_TRUE(fs::is_empty(f.dir / "blobs" / "tmp"));
}

TEST(Blobs, FilesNeverHoldThePlaintext) {
  Fixture f;
  std::string marker = "ATRIUM-PLAINTEXT-MARKER-0123456789";
  std::string data;
  while (data.size() < 3 * BlobStore::kChunk) data += marker;
  auto info = f.store->put(data);
  ASSERT_TRUE(info);
  std::string raw = slurp(f.object(info->id));
  EXPECT_GT(raw.size(), data.size());
  EXPECT_EQ(raw.find(marker.substr(0, 16)), std::string::npos);
  EXPECT_EQ(raw.find(data.substr(0, 8)), std::string::npos);
}

TEST(Blobs, AnyFlippedByteOrTruncationIsDetected) {
  Fixture f;
  std::string data = pattern(2 * BlobStore::kChunk + 100);
  auto info = f.store->put(data);
  ASSERT_TRUE(info);
  const fs::path obj = f.object(info->id);
  const std::string good = slurp(obj);
  for (std::size_t at : {std::size_t{3}, std::size_t{20}, std::size_t{90}, std::size_t{200},
                         BlobStore::kChunk + 500, good.size() - 1}) {
    std::string bad = good;
    bad[at] ^= 0x01;
    spit(obj, bad);
    auto r = f.store->get(info->id);
    ASSERT_FALSE(r) << "flip at " << at;
    EXPECT_EQ(r.error().type, "corrupt-blob") << at;
  }
  for (std::size_t len : {std::size_t{50}, good.size() - 100, good.size() - 17 - 100}) {  // cut anywhere
    spit(obj, good.substr(0, len));
    auto r = f.store->get(info->id);
    ASSERT_FALSE(r) << "truncated to " << len;
    EXPECT_EQ(r.error().type, "corrupt-blob");
  }
  spit(obj, good);
  EXPECT_EQ(*f.store->get(info->id), data);
}

TEST(Blobs, AnObjectCannotPassForAnotherBlob) {
  Fixture f;
  auto a = f.store->put("first");
  auto b = f.store->put("second");
  ASSERT_TRUE(a && b);
  fs::copy_file(f.object(a->id), f.object(b->id), fs::copy_options::overwrite_existing);
  auto r = f.store->get(b->id);
  ASSERT_FALSE(r);  // the wrapped key is bound to the id
  EXPECT_EQ(r.error().type, "corrupt-blob");
}

TEST(Blobs, RangesAcrossChunks) {
  Fixture f;
  constexpr std::int64_t C = BlobStore::kChunk;
  std::string data = pattern(4 * C + 77);
  auto info = f.store->put(data);
  ASSERT_TRUE(info);
  struct R {
    std::int64_t off, len;
  };
  for (R r : {R{0, 10}, R{C - 5, 10}, R{C, C}, R{2 * C + 1, C + 70}, R{4 * C, -1}, R{4 * C + 77, -1},
              R{4 * C + 70, 100}, R{0, -1}}) {
    std::string got;
    ASSERT_TRUE(f.store->read(info->id, r.off, r.len, [&](std::string_view p) -> Status {
      got.append(p);
      return {};
    })) << r.off;
    std::string want = data.substr(static_cast<std::size_t>(std::min<std::int64_t>(r.off, data.size())),
                                   r.len < 0 ? std::string::npos : static_cast<std::size_t>(r.len));
    EXPECT_EQ(got, want) << r.off << "+" << r.len;
  }
}

TEST(Blobs, ReaderPullsRangesAndReportsTheSize) {
  Fixture f;
  constexpr std::int64_t C = BlobStore::kChunk;
  std::string data = pattern(40 * C + 3);  // more chunks than one read of the reader takes
  auto info = f.store->put(data);
  ASSERT_TRUE(info);
  for (std::int64_t off : {std::int64_t{0}, 17 * C - 1, 39 * C, 40 * C + 2, 40 * C + 3, 50 * C}) {
    auto r = f.store->reader(info->id, off, -1);
    ASSERT_TRUE(r) << r.error().detail;
    EXPECT_EQ(r->blob_size(), static_cast<std::int64_t>(data.size()));
    std::string got;
    for (;;) {
      auto more = r->next(got, 3 * C);
      ASSERT_TRUE(more) << more.error().detail;
      if (!*more) break;
    }
    EXPECT_EQ(got, data.substr(static_cast<std::size_t>(std::min<std::int64_t>(off, data.size())))) << off;
  }
}

TEST(Blobs, ARangeReadStillDetectsTamperingBeforeIt) {
  // A range read starts at its chunk using the earlier chunks' tags: a changed tag there makes the
  // range fail, it never yields wrong bytes.
  Fixture f;
  constexpr std::size_t C = BlobStore::kChunk;
  std::string data = pattern(6 * C);
  auto info = f.store->put(data);
  ASSERT_TRUE(info);
  auto obj = f.object(info->id);
  std::string bytes = slurp(obj);
  std::size_t header = bytes.size() - (6 * (C + 17) + 17);
  std::size_t mac_of_chunk1 = header + 2 * (C + 17) - 16;
  bytes[mac_of_chunk1] ^= 0x01;
  ::chmod(obj.c_str(), 0600);
  spit(obj, bytes);
  std::string got;
  auto st = f.store->read(info->id, 4 * C, 10, [&](std::string_view p) -> Status {
    got.append(p);
    return {};
  });
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().type, "corrupt-blob");
  EXPECT_TRUE(got.empty());
}

TEST(Blobs, AWholeReadNeedsTheFinalChunkEvenAfterAFullLastChunk) {
  Fixture f;
  constexpr std::size_t C = BlobStore::kChunk;
  std::string data = pattern(2 * C);  // ends with an empty final chunk
  auto info = f.store->put(data);
  ASSERT_TRUE(info);
  auto obj = f.object(info->id);
  std::string bytes = slurp(obj);
  ::chmod(obj.c_str(), 0600);
  spit(obj, bytes.substr(0, bytes.size() - 17));
  auto r = f.store->get(info->id);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().type, "corrupt-blob");
}

TEST(Blobs, UnknownAndMalformedIdsAreNotFound) {
  Fixture f;
  auto missing = f.store->get(std::string(64, 'a'));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  for (std::string bad : {std::string(), std::string("../../etc/passwd"), std::string(64, 'A'), std::string(63, 'a')}) {
    auto r = f.store->get(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kNotFound) << bad;
    EXPECT_FALSE(*f.store->contains(bad));
  }
}

TEST(MasterKeys, WrongMissingOrExposedKeysStopStartup) {
  Fixture f;
  ASSERT_TRUE(f.store->put("x"));
  auto other_file = f.dir / "other.key";
  auto other = MasterKey::create(other_file);
  ASSERT_TRUE(other);
  auto wrong = BlobStore::open(std::move(*other), local_backend(f.dir / "blobs"));
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().type, "master-key");

  auto missing = MasterKey::load(f.dir / "nope.key");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().type, "master-key");

  ::chmod(f.key_file.c_str(), 0644);
  auto exposed = MasterKey::load(f.key_file);
  ASSERT_FALSE(exposed);
  EXPECT_NE(exposed.error().detail.find("chmod 600"), std::string::npos);
  ::chmod(f.key_file.c_str(), 0600);

  auto right = MasterKey::load(f.key_file);  // the hex form written by create()
  ASSERT_TRUE(right) << right.error().detail;
  EXPECT_TRUE(BlobStore::open(std::move(*right), local_backend(f.dir / "blobs")));

  spit(f.dir / "raw.key", std::string(32, '\x07'));
  ::chmod((f.dir / "raw.key").c_str(), 0600);
  EXPECT_TRUE(MasterKey::load(f.dir / "raw.key"));
  spit(f.dir / "short.key", "abcd\n");
  ::chmod((f.dir / "short.key").c_str(), 0600);
  EXPECT_FALSE(MasterKey::load(f.dir / "short.key"));
  EXPECT_FALSE(MasterKey::create(f.key_file));  // never overwrites a key
}

}  // namespace
}  // namespace atrium::data
