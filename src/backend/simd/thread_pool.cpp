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
  // 32-bit counters: std::atomic<T>::wait then sleeps on the word itself (a futex on Linux)
  alignas(64) std::atomic<std::uint32_t> epoch{0};  ///< the current job's id (bumped for each job, and to stop)
  /// (job id << 32) | (chunks << 16) | next chunk to hand out. One word, so a worker still in a
  /// finished job can never pair that job's id with the next job's chunk count.
  alignas(64) std::atomic<std::uint64_t> ticket{0};
  alignas(64) std::atomic<std::uint32_t> done{0};  ///< chunks of the current job finished
  std::atomic<int> sleepers{0};                    ///< workers blocked in epoch.wait
  std::atomic<bool> caller_sleeping{false};        ///< the caller is blocked in done.wait
  std::atomic<bool> stop{false};
  // the current job: written by the caller before it publishes the ticket; read by a worker only
  // after it has claimed a chunk of this job (the job cannot change while a chunk is unfinished)
  Task task = nullptr;
  void* arg = nullptr;
  index_t items = 0, align = 1;
  static constexpr index_t max_chunks = 256;
  static_assert(max_chunks < (index_t(1) << 16), "chunk count and next chunk are 16-bit fields of the ticket");
  index_t bounds[max_chunks + 1] = {};  ///< chunk c is units [bounds[c], bounds[c + 1]) of `align` items

  static std::uint64_t make_ticket(std::uint32_t job, index_t chunks) {
    return (std::uint64_t(job) << 32) | (std::uint64_t(chunks) << 16);
  }

  /// Claims the next chunk of job `job`; false when it has none left (or a newer job is out).
  /// On success `c` is the chunk and `total` the job's chunk count.
  bool claim(std::uint32_t job, index_t& c, index_t& total) {
    std::uint64_t t = ticket.load(std::memory_order_acquire);
    for (;;) {
      const index_t next = index_t(t & 0xffffu), chunks = index_t((t >> 16) & 0xffffu);
      if (std::uint32_t(t >> 32) != job || next >= chunks) return false;
      if (ticket.compare_exchange_weak(t, t + 1, std::memory_order_acq_rel, std::memory_order_acquire)) {
        c = next;
        total = chunks;
        return true;
      }
    }
  }

  void run_chunk(int t, index_t c, index_t total) {
    const index_t b = bounds[c] * align, e = bounds[c + 1] * align < items ? bounds[c + 1] * align : items;
    task(arg, t, b, e);
    // after this increment the caller may start a new job: nothing of this one is read below
    if (done.fetch_add(1, std::memory_order_seq_cst) + 1 == std::uint32_t(total) &&
        caller_sleeping.load(std::memory_order_seq_cst))
      done.notify_one();
  }

  void work(int t) {
    std::uint32_t seen = 0;
    for (;;) {
      while (!spin_until([&] { return epoch.load(std::memory_order_acquire) != seen; })) {
        sleepers.fetch_add(1, std::memory_order_seq_cst);
        epoch.wait(seen, std::memory_order_seq_cst);
        sleepers.fetch_sub(1, std::memory_order_seq_cst);
      }
      seen = epoch.load(std::memory_order_acquire);
      if (stop.load(std::memory_order_acquire)) return;
      index_t c, total;
      while (claim(seen, c, total)) run_chunk(t, c, total);
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
  p.stop.store(true, std::memory_order_release);
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
  // Chunks: first one per thread covering 3/4 of the range (each thread streams one long piece:
  // every chunk start costs a prefetch ramp-up), then guided self-scheduling over the last quarter
  // (each chunk about 1 / (2 * threads) of what is left, at least `grain` items), so the threads
  // finish within a small chunk of each other. A slow or descheduled thread leaves the chunks it
  // has not claimed to the others. Borders are multiples of `align`.
  const index_t units = (n + align - 1) / align;
  const index_t grain_units = (grain + align - 1) / align;
  if (p.n == 1 || units <= grain_units) {
    task(arg, 0, 0, n);
    return;
  }
  index_t chunks = 0;
  {
    index_t left = units, at = 0;
    const index_t first = (3 * units) / (4 * p.n);
    p.bounds[0] = 0;
    while (left > 0) {
      index_t s = chunks < p.n ? first : (left + 2 * p.n - 1) / (2 * p.n);
      if (s < grain_units) s = grain_units;
      if (s > left || chunks + 1 == Impl::max_chunks) s = left;
      at += s;
      left -= s;
      p.bounds[++chunks] = at;
    }
  }
  const std::uint32_t job = p.epoch.load(std::memory_order_relaxed) + 1;  // wraps, as the workers' copy does
  p.task = task;
  p.arg = arg;
  p.items = n;
  p.align = align;
  p.done.store(0, std::memory_order_relaxed);
  p.ticket.store(Impl::make_ticket(job, chunks), std::memory_order_release);
  p.epoch.store(job, std::memory_order_seq_cst);
  if (p.sleepers.load(std::memory_order_seq_cst) > 0) p.epoch.notify_all();
  index_t c, total;
  while (p.claim(job, c, total)) p.run_chunk(0, c, total);
  while (!spin_until([&] { return p.done.load(std::memory_order_acquire) == std::uint32_t(chunks); })) {
    p.caller_sleeping.store(true, std::memory_order_seq_cst);
    for (std::uint32_t v = p.done.load(std::memory_order_seq_cst); v != std::uint32_t(chunks);
         v = p.done.load(std::memory_order_seq_cst))
      p.done.wait(v, std::memory_order_seq_cst);
    p.caller_sleeping.store(false, std::memory_order_relaxed);
  }
}

}  // namespace simd
MMFREE_NAMESPACE_END
