#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <thread>
#include <vector>

#include "db/testing.hpp"

namespace atrium::db {
namespace {


TEST(SqliteDatabase, MigratesOnceAndCommits) {
  auto db = open_test_db();
  std::vector<Migration> m = {{1, "t", "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE)"}};
  ASSERT_TRUE(db->migrate("test", m));
  ASSERT_TRUE(db->migrate("test", m));  // idempotent
  auto n = db->write([](Tx& tx) { return tx.exec("INSERT INTO t (name) VALUES (?)", {std::string("a")}); });
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 1);
  auto rows = db->read([](Tx& tx) { return tx.query("SELECT id, name FROM t"); });
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].str(1), "a");
}

TEST(SqliteDatabase, FailureRollsBack) {
  auto db = open_test_db();
  ASSERT_TRUE(db->migrate("test", {{1, "t", "CREATE TABLE t (name TEXT UNIQUE)"}}));
  auto st = db->write_tx([](Tx& tx) -> Status {
    TRY(tx.exec("INSERT INTO t VALUES ('x')"));
    return invalid("changed my mind");
  });
  EXPECT_FALSE(st);
  auto rows = db->read([](Tx& tx) { return tx.query("SELECT * FROM t"); });
  EXPECT_TRUE(rows->empty());
}

TEST(SqliteDatabase, UniqueViolationIsAlreadyExists) {
  auto db = open_test_db();
  ASSERT_TRUE(db->migrate("test", {{1, "t", "CREATE TABLE t (name TEXT UNIQUE)"}}));
  ASSERT_TRUE(db->write([](Tx& tx) { return tx.exec("INSERT INTO t VALUES ('x')"); }));
  auto again = db->write([](Tx& tx) { return tx.exec("INSERT INTO t VALUES ('x')"); });
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kAlreadyExists);
}

TEST(SqliteDatabase, BadMigrationStopsWithError) {
  auto db = open_test_db();
  auto st = db->migrate("test", {{1, "broken", "CREATE TABLEX nope"}});
  EXPECT_FALSE(st);
}

// Group commit: concurrent writers each get success only after a flush that covers their commit;
// every acknowledged row is there, flushes cover all commits, and they are shared (fewer flushes
// than commits when writers overlap is likely but not guaranteed, so only <= is asserted).
TEST(SqliteDatabase, ConcurrentWritersShareFlushes) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  auto dir = std::filesystem::path(::testing::TempDir()) / ("atrium_gc_" + std::string(info->name()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::atomic<std::uint64_t> flushes{0}, covered{0};
  DbStats stats;
  stats.observe_flush = [&](double, std::uint64_t n) {
    ++flushes;
    covered += n;
  };
  auto opened = SqliteDatabase::open({.path = (dir / "t.db").string()}, std::move(stats));
  ASSERT_TRUE(opened);
  auto& db = **opened;
  ASSERT_TRUE(db.migrate("test", {{1, "t", "CREATE TABLE t (k INTEGER PRIMARY KEY)"}}));
  const std::uint64_t before = covered.load();
  constexpr int kThreads = 8, kEach = 50;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i)
        if (!db.write([&](Tx& tx) { return tx.exec("INSERT INTO t VALUES (?)", {std::int64_t{t * 1000 + i}}); }))
          ++failures;
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  auto n = db.read([](Tx& tx) { return tx.query_one("SELECT COUNT(*) FROM t"); });
  ASSERT_TRUE(n && *n);
  EXPECT_EQ((**n).i64(0), kThreads * kEach);
  EXPECT_EQ(covered.load() - before, std::uint64_t{kThreads * kEach});  // each commit flushed once
  EXPECT_LE(flushes.load(), covered.load());
  EXPECT_GT(flushes.load(), 0u);
}

// Shared commits: concurrent request-like transactions share batches; one that fails is rolled
// back alone (its row is absent, its hook says so) while the others in its batch commit.
TEST(SqliteDatabase, SharedCommitRollsBackOnlyTheFailedMember) {
  auto db = open_test_db();
  ASSERT_TRUE(db->migrate("test", {{1, "t", "CREATE TABLE t (k INTEGER PRIMARY KEY)"}}));
  constexpr int kThreads = 8, kEach = 60;
  std::atomic<int> ok_answers{0}, committed_hooks{0}, rolled_back_hooks{0}, wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        std::int64_t k = t * 1000 + i;
        bool fail = k % 7 == 0;
        auto st = db->write_tx_shared([&](Tx& tx) -> Status {
          TRY(tx.exec("INSERT INTO t VALUES (?)", {k}));
          tx.on_end([&, fail](bool committed) {
            if (committed == fail) ++wrong;
            ++(committed ? committed_hooks : rolled_back_hooks);
          });
          if (fail) return invalid("refused");
          return {};
        });
        if (bool(st) == fail) ++wrong;
        if (st) ++ok_answers;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  auto rows = db->read([](Tx& tx) { return tx.query("SELECT k FROM t"); });
  ASSERT_TRUE(rows);
  EXPECT_EQ(static_cast<int>(rows->size()), ok_answers.load());
  for (auto& r : *rows) EXPECT_NE(r.i64(0) % 7, 0) << r.i64(0);
  EXPECT_EQ(committed_hooks.load(), ok_answers.load());
  EXPECT_EQ(committed_hooks.load() + rolled_back_hooks.load(), kThreads * kEach);
}

// A constraint violation inside a shared batch fails that member only (SQLite keeps the
// transaction), and the next transaction sees the earlier members' rows.
TEST(SqliteDatabase, SharedCommitConstraintErrorIsLocal) {
  auto db = open_test_db();
  ASSERT_TRUE(db->migrate("test", {{1, "t", "CREATE TABLE t (name TEXT UNIQUE)"}}));
  ASSERT_TRUE(db->write_tx_shared([](Tx& tx) -> Status {
    TRY(tx.exec("INSERT INTO t VALUES ('a')"));
    return {};
  }));
  auto dup = db->write_tx_shared([](Tx& tx) -> Status {
    TRY(tx.exec("INSERT INTO t VALUES ('b')"));
    TRY(tx.exec("INSERT INTO t VALUES ('a')"));
    return {};
  });
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, ErrorCode::kAlreadyExists);
  auto rows = db->read([](Tx& tx) { return tx.query("SELECT name FROM t ORDER BY name"); });
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 1u);  // 'b' went with the failed transaction
  EXPECT_EQ((*rows)[0].str(0), "a");
}

TEST(SqliteDatabase, NormalModeDoesNotFlush) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  auto dir = std::filesystem::path(::testing::TempDir()) / ("atrium_gc_" + std::string(info->name()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::atomic<int> flushes{0};
  DbStats stats;
  stats.observe_flush = [&](double, std::uint64_t) { ++flushes; };
  auto db = SqliteDatabase::open({.path = (dir / "t.db").string(), .synchronous = "normal"}, std::move(stats));
  ASSERT_TRUE(db);
  ASSERT_TRUE((*db)->migrate("test", {{1, "t", "CREATE TABLE t (k INTEGER)"}}));
  ASSERT_TRUE((*db)->write([](Tx& tx) { return tx.exec("INSERT INTO t VALUES (1)"); }));
  EXPECT_EQ(flushes.load(), 0);
}

}  // namespace
}  // namespace atrium::db
