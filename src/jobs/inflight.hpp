// Work a service handed to the worker pool or the I/O thread and must see finish before it stops
// (a launch being prepared, a supervisor's end being recorded).
#pragma once

#include <condition_variable>
#include <mutex>

namespace atrium::jobs {

class Inflight {
 public:
  // False once closed: the caller does not start the work.
  bool enter() {
    std::lock_guard lk(mu_);
    if (closed_) return false;
    ++n_;
    return true;
  }
  void leave() {
    std::lock_guard lk(mu_);
    if (--n_ == 0) done_.notify_all();
  }
  // Refuses new work, then returns once all that entered has left (at shutdown only).
  void close_and_wait() {
    std::unique_lock lk(mu_);
    closed_ = true;
    done_.wait(lk, [this] { return n_ == 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable done_;
  int n_ = 0;         // GUARDED_BY(mu_)
  bool closed_ = false;  // GUARDED_BY(mu_)
};

}  // namespace atrium::jobs
