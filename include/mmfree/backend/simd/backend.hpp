// SPDX-License-Identifier: MIT
// backend::Simd: host kernels on xsimd + intrinsics, one set per instruction set, chosen at run
// time (or fixed at compile time), on a persistent thread pool. Needs the mmfree::simd library.
#pragma once

#include <memory>
#include <string_view>
#include <type_traits>
#include <utility>

#include "../../core/buffer.hpp"
#include "../../core/error.hpp"
#include "../../macros.hpp"
#include "kernel_table.hpp"
#include "path.hpp"
#include "thread_pool.hpp"

MMFREE_NAMESPACE_BEGIN
namespace simd {

/// Options of a backend::Simd context.
struct Options {
  int threads = 1;          ///< threads working on each kernel (the caller included), >= 1
  Path path = Path::best;   ///< kernels to use; Path::best picks the fastest this CPU has
  /// Least work (multiply-adds or element operations) a kernel gives each thread; smaller
  /// kernels run on fewer threads. 1 splits everything (tests use it to exercise every split).
  index_t min_work_per_thread = index_t(1) << 15;
};

/// \brief Run-time state of backend::Simd: the kernel table of the chosen path and the thread
/// pool (created once here; nothing is created or allocated per call). Move-only.
///
/// Results do not depend on the thread count or the path: every output element is computed by
/// one thread with exact integer sums and the oracle's float operations.
class Context {
 public:
  /// One thread, best path.
  Context() : Context(Options{}) {}
  /// \throws mmfree::Error if o.threads < 1 or o.path cannot run on this CPU / is not compiled in
  explicit Context(Options o) : table_(&kernel_table(o.path)), min_work_(o.min_work_per_thread) {
    check(o.threads >= 1 && o.threads <= 1024, "simd::Context: threads must be in [1, 1024], got " +
                                                   std::to_string(o.threads));
    check(o.min_work_per_thread >= 1, "simd::Context: min_work_per_thread must be >= 1");
    pool_ = std::make_unique<ThreadPool>(o.threads);
  }
  Context(Context&&) noexcept = default;
  Context& operator=(Context&&) noexcept = default;

  int threads() const noexcept { return pool_->size(); }
  /// The path actually running (never Path::best).
  Path path() const noexcept { return table_->path; }
  const KernelTable& kernels() const noexcept { return *table_; }
  ScratchSpan scratch(int thread) const noexcept { return pool_->scratch(thread); }
  /// Items per thread at least, for items that cost `work_per_item` operations each.
  index_t grain(index_t work_per_item) const noexcept {
    const index_t w = work_per_item > 0 ? work_per_item : 1;
    return (min_work_ + w - 1) / w;
  }

  /// \brief Calls f(thread, begin, end) on contiguous chunks of [0, n) on the pool's threads.
  /// Chunk borders are multiples of `align`; at least `grain` items per thread (small ranges run
  /// on the caller alone). f must not throw.
  template <class F>
  void parallel_for(index_t n, index_t align, index_t grain, F&& f) {
    if (n <= 0) return;
    using Fn = std::remove_reference_t<F>;
    pool_->run(n, align, grain,
               [](void* arg, int t, index_t b, index_t e) { (*static_cast<Fn*>(arg))(t, b, e); },
               const_cast<void*>(static_cast<const void*>(&f)));
  }

  /// Runs `f` (interface shared with the other backends' contexts).
  template <class F>
  void run(F&& f) {
    f();
  }

 private:
  const KernelTable* table_;
  index_t min_work_;
  std::unique_ptr<ThreadPool> pool_;
};

}  // namespace simd

namespace backend {

/// \brief Host SIMD backend with the kernels of path `P`.
///
/// `backend::Simd` (= `SimdOn<simd::Path::best>`) dispatches at run time to the best path the CPU
/// has; the context's simd::Options can still force another one. `SimdOn<simd::Path::avx2>` etc.
/// pin a path in the type (microbenchmarks): contexts of it run that path or throw.
/// Only act::Int8 is implemented (exact integer sums); see bitlinear.hpp.
template <simd::Path P>
struct SimdOn {
  static constexpr simd::Path path = P;
  static constexpr std::string_view name() {
    if constexpr (P == simd::Path::best)
      return "simd";
    else
      return simd::path_name(P);
  }
  using memory_space = HostSpace;

  /// simd::Context whose default and Options constructors apply the pinned path.
  struct context_type : simd::Context {
    context_type() : context_type(simd::Options{}) {}
    /// \param threads threads per kernel (the caller included)
    explicit context_type(int threads) : context_type(simd::Options{threads, P}) {}
    explicit context_type(simd::Options o) : simd::Context(pin(o)) {}

   private:
    static simd::Options pin(simd::Options o) {
      if constexpr (P != simd::Path::best) {
        if (o.path != simd::Path::best && o.path != P)
          throw Error("backend::SimdOn<" + std::string(simd::path_name(P)) + "> cannot run path " +
                      std::string(simd::path_name(o.path)));
        o.path = P;
      }
      return o;
    }
  };
};

/// The SIMD backend with run-time dispatch.
using Simd = SimdOn<simd::Path::best>;

}  // namespace backend

/// True for backend::SimdOn<...> instantiations.
template <class B>
inline constexpr bool is_simd_backend = false;
template <simd::Path P>
inline constexpr bool is_simd_backend<backend::SimdOn<P>> = true;

MMFREE_NAMESPACE_END
