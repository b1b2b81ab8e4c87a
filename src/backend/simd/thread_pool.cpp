// SPDX-License-Identifier: MIT
// simd::ThreadPool: persistent workers that spin briefly between jobs (a decode step issues one
// every few microseconds) and then sleep on an atomic wait. Static, contiguous chunks: which
// thread computes an item never changes its value, so results do not depend on the thread count.
#include "mmfree/backend/simd/thread_pool.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "mmfree/core/buffer.hpp"
#include "mmfree/core/error.hpp"

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
#include <immintrin.h>
#define MMFREE_CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define MMFREE_CPU_RELAX() __asm__ volatile("yield")
#else
#define MMFREE_CPU_RELAX() ((void)0)
#endif

MMFREE_NAMESPACE_BEGIN
namespace simd {

namespace {
/// How long a waiting thread spins before it sleeps in the kernel: decode issues a job every few
/// microseconds, so a worker that has just finished one usually sees the next while spinning.
constexpr auto spin_time = std::chrono::microseconds(50);

/// Spins until pred() holds or spin_time has passed; returns pred(). Yields now and then so a
/// thread that shares a core with the one it waits for (more threads than cores) lets it run.
template <class Pred>
bool spin_until(Pred pred) {
  const auto start = std::chrono::steady_clock::now();
  for (int i = 1;; ++i) {
    if (pred()) return true;
    MMFREE_CPU_RELAX();
    if ((i & 255) == 0) {
      if (std::chrono::steady_clock::now() - start > spin_time) return pred();
      std::this_thread::yield();
    }
  }
}
}  // namespace

struct ThreadPool::Impl {
  int n = 1;
  std::vector<std::thread> workers;
  std::vector<Buffer<std::uint8_t, HostSpace>> scratch;
  alignas(64) std::atomic<std::uint64_t> epoch{0};  ///< bumped for each job (and to stop)
  alignas(64) std::atomic<int> pending{0};          ///< workers still busy with the current job
  std::atomic<int> sleepers{0};                     ///< workers blocked in epoch.wait
  std::atomic<bool> caller_sleeping{false};         ///< the caller is blocked in pending.wait
  std::atomic<bool> stop{false};
  // the current job (written before epoch is bumped)
  Task task = nullptr;
  void* arg = nullptr;
  index_t items = 0, align = 1;
  int used = 1;

  /// Items [begin, end) of thread t out of `used`.
  void chunk(int t, index_t& b, index_t& e) const {
    const index_t units = (items + align - 1) / align;
    b = units * t / used * align;
    e = units * (t + 1) / used * align;
    if (e > items) e = items;
    if (b > items) b = items;
  }

  void work(int t) {
    std::uint64_t seen = 0;
    for (;;) {
      while (!spin_until([&] { return epoch.load(std::memory_order_acquire) != seen; })) {
        sleepers.fetch_add(1, std::memory_order_seq_cst);
        epoch.wait(seen, std::memory_order_seq_cst);
        sleepers.fetch_sub(1, std::memory_order_seq_cst);
      }
      seen = epoch.load(std::memory_order_acquire);
      if (stop.load(std::memory_order_relaxed)) return;
      if (t < used) {
        index_t b, e;
        chunk(t, b, e);
        if (b < e) task(arg, t, b, e);
      }
      if (pending.fetch_sub(1, std::memory_order_seq_cst) == 1 && caller_sleeping.load(std::memory_order_seq_cst))
        pending.notify_one();
    }
  }
};

ThreadPool::ThreadPool(int threads) : impl_(std::make_unique<Impl>()) {
  check(threads >= 1, "ThreadPool: threads must be >= 1, got " + std::to_string(threads));
  impl_->n = threads;
  for (int t = 0; t < threads; ++t) impl_->scratch.emplace_back(scratch_bytes);
  impl_->workers.reserve(std::size_t(threads - 1));
  for (int t = 1; t < threads; ++t) impl_->workers.emplace_back([this, t] { impl_->work(t); });
}

ThreadPool::~ThreadPool() {
  Impl& p = *impl_;
  p.stop.store(true, std::memory_order_relaxed);
  p.epoch.fetch_add(1, std::memory_order_seq_cst);
  p.epoch.notify_all();
  for (auto& w : p.workers) w.join();
}

int ThreadPool::size() const noexcept { return impl_->n; }

ScratchSpan ThreadPool::scratch(int t) const noexcept {
  auto& b = impl_->scratch[std::size_t(t)];
  return ScratchSpan{b.data(), b.size()};
}

void ThreadPool::run(index_t n, index_t align, index_t grain, Task task, void* arg) {
  Impl& p = *impl_;
  if (n <= 0) return;
  if (align < 1) align = 1;
  if (grain < 1) grain = 1;
  index_t want = (n + grain - 1) / grain;
  const index_t units = (n + align - 1) / align;
  if (want > units) want = units;
  const int used = want < p.n ? int(want) : p.n;
  if (used <= 1) {
    task(arg, 0, 0, n);
    return;
  }
  p.task = task;
  p.arg = arg;
  p.items = n;
  p.align = align;
  p.used = used;
  p.pending.store(p.n - 1, std::memory_order_relaxed);
  p.epoch.fetch_add(1, std::memory_order_seq_cst);
  if (p.sleepers.load(std::memory_order_seq_cst) > 0) p.epoch.notify_all();
  index_t b, e;
  p.chunk(0, b, e);
  if (b < e) task(arg, 0, b, e);
  while (!spin_until([&] { return p.pending.load(std::memory_order_acquire) == 0; })) {
    p.caller_sleeping.store(true, std::memory_order_seq_cst);
    for (int v = p.pending.load(std::memory_order_seq_cst); v != 0; v = p.pending.load(std::memory_order_seq_cst))
      p.pending.wait(v, std::memory_order_seq_cst);
    p.caller_sleeping.store(false, std::memory_order_relaxed);
  }
}

}  // namespace simd
MMFREE_NAMESPACE_END
