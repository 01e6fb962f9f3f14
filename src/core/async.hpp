// The one concurrency model every module uses: C++20 coroutines on Boost.Asio.
//
// - Runtime: the worker pool (everything that blocks: the database, the disk, git, decryption)
//   and one I/O thread for the services' background coroutines. The HTTP server runs its own I/O
//   threads and hands blocking work to the same pool.
// - on_pool(rt, f): runs f on the pool; the awaiting coroutine resumes on its own executor.
// - Waiter: how a coroutine waits without polling: until woken (by a Notifier it subscribed, an
//   executor event, a cancel), until a Clock reaches a deadline (a ManualClock's jumps count), or
//   until a descriptor becomes readable.
// - Periodic: a task on the pool every period of an injected Clock, at the time its last run
//   asked for, and whenever kicked (coalesced; one run at a time).
// - Stream: a body produced piece by piece (`co_await next(out)`), for responses that grow.
//
// I/O threads never block: expect_blocking_allowed() (core/io_thread.hpp) checks it.
#pragma once

#include <utility>  // must precede Asio with g++ 12 + Boost 1.74 coroutines

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/clock.hpp"

namespace atrium::async {

namespace asio = boost::asio;
template <typename T = void>
using Task = asio::awaitable<T>;

constexpr Millis kNever = std::numeric_limits<Millis>::max();

class Runtime {
 public:
  explicit Runtime(int worker_threads);
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  asio::thread_pool& pool() { return pool_; }
  asio::io_context& io() { return io_; }
  // Starts the I/O thread (marked as one: it must never block).
  void start();
  // Ends the I/O thread (pending coroutines are dropped: stop the services first) and the pool.
  void stop();
  // Runs a coroutine on the I/O thread; an exception it throws is logged to stderr.
  void spawn(Task<void> t);

 private:
  asio::thread_pool pool_;
  asio::io_context io_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard_;
  std::thread thread_;
};

// Runs `f` on `rt`'s worker pool; the coroutine resumes on its own executor with f's result (an
// exception thrown by f is rethrown there).
template <typename F>
auto on_pool(Runtime& rt, F f) -> Task<std::invoke_result_t<F&>> {
  using R = std::invoke_result_t<F&>;
  if constexpr (std::is_void_v<R>) {
    co_await asio::async_initiate<decltype(asio::use_awaitable), void(std::exception_ptr)>(
        [&rt, &f](auto handler) {
          auto ex = asio::get_associated_executor(handler);
          asio::post(rt.pool(), [&f, h = std::move(handler), ex]() mutable {
            std::exception_ptr e;
            try {
              f();
            } catch (...) {
              e = std::current_exception();
            }
            asio::post(ex, [h = std::move(h), e]() mutable { h(e); });
          });
        },
        asio::use_awaitable);
  } else {
    std::optional<R> out;
    co_await asio::async_initiate<decltype(asio::use_awaitable), void(std::exception_ptr)>(
        [&rt, &f, &out](auto handler) {
          auto ex = asio::get_associated_executor(handler);
          asio::post(rt.pool(), [&f, &out, h = std::move(handler), ex]() mutable {
            std::exception_ptr e;
            try {
              out.emplace(f());
            } catch (...) {
              e = std::current_exception();
            }
            asio::post(ex, [h = std::move(h), e]() mutable { h(e); });
          });
        },
        asio::use_awaitable);
    co_return std::move(*out);
  }
}

// One coroutine's wait for a wake-up. Waits run on the executor of the coroutine that first
// waits (a strand or a single-threaded context); wake() may come from any thread, and a wake that
// comes while nobody waits is kept for the next wait. Any wake-up may be spurious: callers
// re-check their condition in a loop.
class Waiter {
 public:
  Waiter();
  ~Waiter();
  Waiter(const Waiter&) = delete;
  Waiter& operator=(const Waiter&) = delete;

  void wake();
  // Returns when woken, or when `clock` reaches `deadline` (kNever: none; a ManualClock's jump
  // also returns).
  Task<void> wait(const Clock& clock, Millis deadline = kNever);
  // The same, and also when `fd` (not owned; it must outlive the Waiter) becomes readable.
  Task<void> wait_readable(int fd, const Clock& clock, Millis deadline = kNever);
  // A subscription to `n` that wakes this waiter (hold it while waiting).
  [[nodiscard]] Notifier::Subscription wake_on(const Notifier& n);

 private:
  struct State;
  std::shared_ptr<State> s_;
};

// Runs `fn` on the worker pool: at start(), after every `period` of `clock`, at the time the last
// run returned (0: none sooner than the period), and soon after kick(). Runs never overlap; kicks
// during a run make one more run after it.
class Periodic {
 public:
  Periodic(Runtime& rt, const Clock& clock, Millis period, std::function<Millis()> fn);
  ~Periodic();
  Periodic(const Periodic&) = delete;
  Periodic& operator=(const Periodic&) = delete;

  void start();
  void kick();
  // No run starts after this returns; a run in progress finishes first. Call it before the
  // runtime stops.
  void stop();

 private:
  struct State;
  Task<void> loop(std::shared_ptr<State> s);
  Runtime& rt_;
  std::shared_ptr<State> s_;
};

// A body that grows while it is sent (a running job's output, a pack git writes, a blob being
// decrypted). next() runs on the consumer's executor and never blocks its thread: it waits with a
// Waiter or hands blocking work to the pool. cancel() (from the consumer's executor, while or
// before next() waits) makes next() return soon with true (more may follow) and whatever it had;
// the consumer then abandons the stream.
class Stream {
 public:
  virtual ~Stream() = default;
  // Appends the next piece to `out`; false once the body is complete (nothing more appended).
  virtual Task<bool> next(std::string& out) = 0;
  // True when the body ended because it could not be produced (a damaged blob, git failing).
  virtual bool failed() const { return false; }
  virtual void cancel() {}
};

}  // namespace atrium::async
