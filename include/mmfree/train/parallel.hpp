// SPDX-License-Identifier: MIT
// A fixed pool of threads with static work partitioning: the same thread count always splits the
// same work the same way, so every reduction in training is deterministic for a given count.
#pragma once

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "../core/error.hpp"
#include "../core/types.hpp"

MMFREE_NAMESPACE_BEGIN
namespace train {

/// \brief `threads` workers (the calling thread is worker 0) that run one job at a time.
///
/// run(f) calls f(t) once on every worker t in [0, size()) and returns when all are done;
/// parallel_for() cuts a range into size() contiguous pieces. Nothing is scheduled dynamically,
/// so results never depend on timing. The first exception a worker throws is rethrown by the caller.
class ThreadPool {
 public:
  /// \param threads 1 or more (1 = everything runs on the calling thread, no thread is started)
  explicit ThreadPool(int threads = 1) {
    check(threads >= 1 && threads <= 1024, "ThreadPool: thread count must be in [1, 1024]");
    n_ = threads;
    for (int t = 1; t < n_; ++t) workers_.emplace_back([this, t] { loop(t); });
  }
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;
  ~ThreadPool() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_ = true;
      ++generation_;
    }
    cv_.notify_all();
    for (auto& w : workers_) w.join();
  }

  int size() const { return n_; }

  /// Calls f(t) for every worker t; blocks until all return.
  void run(const std::function<void(int)>& f) {
    if (n_ == 1) {
      f(0);
      return;
    }
    {
      std::lock_guard<std::mutex> lk(mu_);
      job_ = &f;
      pending_ = n_ - 1;
      error_ = nullptr;
      ++generation_;
    }
    cv_.notify_all();
    std::exception_ptr mine;
    try {
      f(0);
    } catch (...) {
      mine = std::current_exception();
    }
    std::unique_lock<std::mutex> lk(mu_);
    done_cv_.wait(lk, [this] { return pending_ == 0; });
    job_ = nullptr;
    if (mine) std::rethrow_exception(mine);
    if (error_) std::rethrow_exception(error_);
  }

  /// Piece t of [0, n) when cut into size() contiguous pieces (the first n % size() get one more).
  static void split(index_t n, int parts, int t, index_t& begin, index_t& end) {
    const index_t base = n / parts, extra = n % parts;
    begin = t * base + (t < extra ? t : extra);
    end = begin + base + (t < extra ? 1 : 0);
  }

  /// Calls f(begin, end, t) on each worker t for its piece of [0, n) (empty pieces are skipped).
  /// Pieces hold at least `grain` items (small work stays on the calling thread: waking threads
  /// costs more than it saves).
  template <class F>
  void parallel_for(index_t n, F&& f, index_t grain = 1) {
    if (n <= 0) return;
    const index_t by_grain = grain > 1 ? std::max<index_t>(1, n / grain) : n;
    const int parts = int(std::min<index_t>(by_grain, n_));
    if (parts == 1) {
      f(index_t(0), n, 0);
      return;
    }
    run([&](int t) {
      if (t >= parts) return;
      index_t b, e;
      split(n, parts, t, b, e);
      f(b, e, t);
    });
  }

 private:
  void loop(int t) {
    std::uint64_t seen = 0;
    for (;;) {
      const std::function<void(int)>* job = nullptr;
      {
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait(lk, [&] { return generation_ != seen; });
        seen = generation_;
        if (stop_) return;
        job = job_;
      }
      std::exception_ptr err;
      try {
        (*job)(t);
      } catch (...) {
        err = std::current_exception();
      }
      {
        std::lock_guard<std::mutex> lk(mu_);
        if (err && !error_) error_ = err;
        if (--pending_ == 0) done_cv_.notify_one();
      }
    }
  }

  int n_ = 1;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_, done_cv_;
  const std::function<void(int)>* job_ = nullptr;
  int pending_ = 0;
  std::uint64_t generation_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
};

}  // namespace train
MMFREE_NAMESPACE_END
