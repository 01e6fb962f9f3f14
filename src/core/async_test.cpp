#include "core/async.hpp"

#include <future>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>
#include <unistd.h>

#include "core/io_thread.hpp"

namespace atrium::async {
namespace {

// Runs a coroutine on the runtime's I/O thread and waits for its result here.
// (A coroutine lambda must outlive its coroutine: callers keep it in a variable.)
template <typename F>
auto run(Runtime& rt, F& f) {
  return asio::co_spawn(rt.io(), f(), asio::use_future).get();
}

TEST(Async, OnPoolRunsOffTheIoThreadAndReturnsTheResult) {
  Runtime rt(2);
  rt.start();
  auto f = [&]() -> Task<std::pair<bool, bool>> {
    bool io_here = on_io_thread();
    bool io_there = co_await on_pool(rt, [] { return on_io_thread(); });
    co_return std::pair{io_here, io_there};
  };
  auto r = run(rt, f);
  EXPECT_TRUE(r.first);
  EXPECT_FALSE(r.second);
}

TEST(Async, OnPoolRethrowsInTheCoroutine) {
  Runtime rt(1);
  rt.start();
  auto f = [&]() -> Task<bool> {
    try {
      co_await on_pool(rt, []() -> int { throw std::runtime_error("boom"); });
    } catch (const std::runtime_error&) {
      co_return true;
    }
    co_return false;
  };
  bool caught = run(rt, f);
  EXPECT_TRUE(caught);
}

TEST(Async, AWakeBeforeTheWaitIsKept) {
  Runtime rt(1);
  rt.start();
  ManualClock clock;
  Waiter w;
  w.wake();
  auto f = [&]() -> Task<int> {
    co_await w.wait(clock);  // returns at once: no deadline, no jump, only the earlier wake
    co_return 0;
  };
  run(rt, f);
}

TEST(Async, AWaitEndsAtTheManualClocksDeadlineAndOnANotifier) {
  Runtime rt(1);
  rt.start();
  ManualClock clock;
  Notifier n;
  Waiter w;
  std::promise<void> waiting;
  auto until_deadline = [&]() -> Task<Millis> {
    Millis deadline = clock.now_ms() + 5000;
    waiting.set_value();
    while (clock.now_ms() < deadline) co_await w.wait(clock, deadline);
    co_return clock.now_ms() - (deadline - 5000);
  };
  auto done = asio::co_spawn(rt.io(), until_deadline(), asio::use_future);
  waiting.get_future().wait();
  clock.advance_ms(4000);  // not yet
  EXPECT_EQ(done.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);
  clock.advance_ms(1000);
  EXPECT_EQ(done.get(), 5000);

  std::promise<void> subscribed;
  auto until_notified = [&]() -> Task<std::uint64_t> {
    auto sub = w.wake_on(n);
    auto seen = n.version();
    subscribed.set_value();
    while (n.version() == seen) co_await w.wait(clock);
    co_return n.version();
  };
  auto woke = asio::co_spawn(rt.io(), until_notified(), asio::use_future);
  subscribed.get_future().wait();
  n.notify();
  EXPECT_EQ(woke.get(), 1u);
}

TEST(Async, AWaitEndsWhenADescriptorBecomesReadable) {
  Runtime rt(1);
  rt.start();
  ManualClock clock;
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  Waiter w;
  std::promise<void> waiting;
  auto until_readable = [&]() -> Task<char> {
    waiting.set_value();
    co_await w.wait_readable(p[0], clock);
    char c = 0;
    EXPECT_EQ(::read(p[0], &c, 1), 1);
    co_return c;
  };
  auto got = asio::co_spawn(rt.io(), until_readable(), asio::use_future);
  waiting.get_future().wait();
  ASSERT_EQ(::write(p[1], "x", 1), 1);
  EXPECT_EQ(got.get(), 'x');
  ::close(p[0]);
  ::close(p[1]);
}

TEST(Async, PeriodicRunsAtStartOnEachPeriodOfTheClockAndWhenKicked) {
  Runtime rt(1);
  rt.start();
  ManualClock clock;
  std::mutex mu;
  std::condition_variable cv;
  int runs = 0;
  Periodic p(rt, clock, 30'000, [&] {
    std::lock_guard lk(mu);
    ++runs;
    cv.notify_all();
    return Millis{0};
  });
  auto wait_for_runs = [&](int n) {
    std::unique_lock lk(mu);
    return cv.wait_for(lk, std::chrono::seconds(10), [&] { return runs >= n; });
  };
  p.start();
  ASSERT_TRUE(wait_for_runs(1));
  clock.advance_ms(29'000);
  {
    std::unique_lock lk(mu);
    EXPECT_FALSE(cv.wait_for(lk, std::chrono::milliseconds(50), [&] { return runs >= 2; }));
  }
  clock.advance_ms(1'000);
  ASSERT_TRUE(wait_for_runs(2));
  p.kick();
  ASSERT_TRUE(wait_for_runs(3));
  p.stop();
  int after = runs;
  p.kick();
  clock.advance_ms(60'000);
  std::unique_lock lk(mu);
  EXPECT_FALSE(cv.wait_for(lk, std::chrono::milliseconds(50), [&] { return runs > after; }));
}

TEST(Async, PeriodicRunsAtTheTimeItsLastRunAskedFor) {
  Runtime rt(1);
  rt.start();
  ManualClock clock(1000);
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Millis> at;
  Periodic p(rt, clock, 30'000, [&] {
    std::lock_guard lk(mu);
    at.push_back(clock.now_ms());
    cv.notify_all();
    return at.size() == 1 ? clock.now_ms() + 500 : Millis{0};
  });
  p.start();
  {
    std::unique_lock lk(mu);
    ASSERT_TRUE(cv.wait_for(lk, std::chrono::seconds(10), [&] { return at.size() == 1; }));
  }
  clock.advance_ms(500);
  std::unique_lock lk(mu);
  ASSERT_TRUE(cv.wait_for(lk, std::chrono::seconds(10), [&] { return at.size() == 2; }));
  EXPECT_EQ(at[1], 1500);
}

TEST(Async, BlockingOnAnIoThreadIsReported) {
  EXPECT_FALSE(on_io_thread());
  expect_blocking_allowed("a test, off the I/O thread");  // fine
  Runtime rt(1);
  rt.start();
  auto f = []() -> Task<bool> { co_return on_io_thread(); };
  EXPECT_TRUE(run(rt, f));
}

}  // namespace
}  // namespace atrium::async
