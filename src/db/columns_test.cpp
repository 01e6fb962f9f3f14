#include "db/columns.hpp"

#include <gtest/gtest.h>

#include "db/testing.hpp"

namespace atrium::db {
namespace {

struct Inner {
  std::string label;
};
struct Thing {
  std::string name;
  std::int64_t size = 0;
  int count = 0;
  bool on = false;
  double ratio = 0;
  std::optional<std::int64_t> limit;
  std::optional<std::string> note;
  Inner inner;
  std::vector<std::string> parts;  // from two columns
};

const Columns<Thing> kThing{
    col<&Thing::name>("name"),
    col<&Thing::size>("size"),
    col<&Thing::count>("count"),
    col<&Thing::on>("on_"),
    col<&Thing::ratio>("ratio"),
    col<&Thing::limit>("limit_"),
    col<&Thing::note>("note"),
    col<&Thing::inner, &Inner::label>("label"),
    cols<Thing>(2, "a, b",
                [](Thing& t, const Row& r, std::size_t i) -> Status {
                  if (r.is_null(i)) return {};
                  t.parts = {r.str(i), r.str(i + 1)};
                  return {};
                }),
};

TEST(Columns, ListsNamesWithAndWithoutQualifier) {
  EXPECT_EQ(kThing.list(), "name, size, count, on_, ratio, limit_, note, label, a, b");
  EXPECT_EQ(kThing.list("t"), "t.name, t.size, t.count, t.on_, t.ratio, t.limit_, t.note, t.label, t.a, t.b");
  EXPECT_EQ(kThing.width(), 10u);
}

TEST(Columns, MapsRowsByFieldType) {
  Row r({std::string("x"), std::int64_t{7}, std::int64_t{3}, std::int64_t{1}, 0.5, nullptr, std::string("n"),
         std::string("L"), std::string("p"), std::string("q")});
  auto t = kThing.read(r);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->name, "x");
  EXPECT_EQ(t->size, 7);
  EXPECT_EQ(t->count, 3);
  EXPECT_TRUE(t->on);
  EXPECT_DOUBLE_EQ(t->ratio, 0.5);
  EXPECT_FALSE(t->limit);
  EXPECT_EQ(t->note, "n");
  EXPECT_EQ(t->inner.label, "L");
  EXPECT_EQ(t->parts, (std::vector<std::string>{"p", "q"}));
}

TEST(Columns, ReadsJsonStringListsLeniently) {
  struct Tagged {
    std::vector<std::string> tags;
  };
  const Columns<Tagged> c{col<&Tagged::tags>("tags")};
  EXPECT_EQ(c.read(Row({std::string(R"(["a", 1, "b"])")}))->tags, (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(c.read(Row({std::string("not json")}))->tags.empty());
}

TEST(Columns, ReadsFromAnOffsetAndReportsReaderErrors) {
  struct One {
    std::int64_t v = 0;
  };
  const Columns<One> ok{col<&One::v>("v")};
  const Columns<One> bad{col<One>("v", [](One&, const Row&, std::size_t) -> Status { return invalid("bad v"); })};
  Row r({std::string("skip"), std::int64_t{42}});
  EXPECT_EQ(ok.read(r, 1)->v, 42);
  auto e = bad.read(r, 1);
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().detail, "bad v");
}

TEST(Columns, RoundTripsThroughSqlite) {
  auto db = open_test_db();
  ASSERT_TRUE(db->migrate("test", {{1, "t",
                                    "CREATE TABLE things (name TEXT, size INTEGER, count INTEGER, on_ INTEGER, "
                                    "ratio REAL, limit_ INTEGER, note TEXT, label TEXT, a TEXT, b TEXT)"}}));
  ASSERT_TRUE(db->write([](Tx& tx) {
    return tx.exec("INSERT INTO things VALUES ('y', 9, 2, 0, 1.5, 100, NULL, 'lab', NULL, NULL)");
  }));
  auto rows = db->read([](Tx& tx) { return tx.query("SELECT " + kThing.list() + " FROM things"); });
  ASSERT_TRUE(rows);
  auto all = kThing.read_all(*rows);
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 1u);
  const Thing& t = (*all)[0];
  EXPECT_EQ(t.name, "y");
  EXPECT_EQ(t.size, 9);
  EXPECT_FALSE(t.on);
  EXPECT_EQ(t.limit, 100);
  EXPECT_FALSE(t.note);
  EXPECT_EQ(t.inner.label, "lab");
  EXPECT_TRUE(t.parts.empty());
}

}  // namespace
}  // namespace atrium::db
