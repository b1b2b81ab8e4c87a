// SPDX-License-Identifier: MIT
// A persistent pool of worker threads for backend::Simd: created once with the context, reused
// for every kernel; splitting a range and running it allocates nothing.
#pragma once

#include <memory>

#include "../../core/types.hpp"
#include "kernel_table.hpp"

MMFREE_NAMESPACE_BEGIN
namespace simd {

/// \brief `threads - 1` worker threads plus the calling thread, each with fixed scratch memory.
///
/// run() cuts [0, n) into contiguous chunks (a long one per thread, then shrinking ones), which
/// threads claim in order, and returns when all are done. Workers spin briefly between jobs
/// (decode issues a job every few microseconds), then sleep. Not re-entrant: one run() at a time
/// (a Workspace, and so its pool, belongs to one thread).
class ThreadPool {
 public:
  /// A task: runs items [begin, end) on thread `thread` (0 = the caller). Must not throw.
  using Task = void (*)(void* arg, int thread, index_t begin, index_t end);

  /// Scratch bytes every thread gets (the kernels' tiles are sized to fit).
  static constexpr index_t scratch_bytes = index_t(512) * 1024;

  /// \param threads total threads including the caller (>= 1)
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  /// Total threads (workers + caller).
  int size() const noexcept;

  /// \brief Runs task on [0, n): on the caller alone when n <= grain, else in chunks of at least
  /// `grain` items (the last may be shorter) claimed by the threads. Chunk borders are multiples of
  /// `align` (the last chunk ends at n).
  void run(index_t n, index_t align, index_t grain, Task task, void* arg);

  /// Scratch memory of thread t (0 <= t < size()).
  ScratchSpan scratch(int t) const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace simd
MMFREE_NAMESPACE_END
