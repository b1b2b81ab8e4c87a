// SPDX-License-Identifier: MIT
// Everything that differs between the Kokkos versions mmfree supports (3.4 as Debian ships it in
// Trilinos 13.2, and current 4.x/5.x) and between execution spaces, in one place. The rest of
// backend/kokkos/ uses only the API those versions share: TeamPolicy with level-0 scratch,
// TeamThreadRange reductions, kokkos_malloc, deep_copy of unmanaged Views, and
// Kokkos::Experimental graphs (create_graph / then_parallel_for / submit).
#pragma once

#include <Kokkos_Core.hpp>
#include <Kokkos_Graph.hpp>

#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "../../macros.hpp"

#if !defined(KOKKOS_VERSION) || KOKKOS_VERSION < 30400
#error "mmfree's Kokkos backend needs Kokkos 3.4 or later"
#endif

MMFREE_NAMESPACE_BEGIN
namespace kk {

/// Type-erased graph node: every then_parallel_for() result converts to it, so a chain of any
/// length can be built in a loop.
template <class Ex>
using GraphNode = ::Kokkos::Experimental::GraphNodeRef<Ex>;
template <class Ex>
using Graph = ::Kokkos::Experimental::Graph<Ex>;

/// \brief How kernels map onto an execution space.
///
/// `group` lanes cooperate on one weight row (they must be one hardware SIMD group, reduced with
/// shuffles); `groups` such groups make a team. Host spaces use teams of one thread (Serial and
/// OpenMP both accept that) and get their parallelism from the league.
template <class Ex>
struct SpaceTraits {
  static constexpr bool gpu = false;
  static constexpr int group = 1;
  static constexpr int groups = 1;
};
#if defined(KOKKOS_ENABLE_CUDA)
template <>
struct SpaceTraits<::Kokkos::Cuda> {
  static constexpr bool gpu = true;
  static constexpr int group = 32;  // one warp a weight row
  static constexpr int groups = 8;  // 256 threads a team
};
#endif
#if defined(KOKKOS_ENABLE_HIP)
#if KOKKOS_VERSION >= 40000
using HipSpace = ::Kokkos::HIP;
#else
using HipSpace = ::Kokkos::Experimental::HIP;
#endif
template <>
struct SpaceTraits<HipSpace> {
  static constexpr bool gpu = true;
  static constexpr int group = 32;  // width-32 shuffles work on wave32 and wave64
  static constexpr int groups = 8;
};
#endif

/// \brief The policy with Kokkos' "light weight" hint: on CUDA the functor travels as a kernel
/// argument (read-only parameter space, read like constants) instead of through constant memory
/// (eager launches: a copy and an event each) or global memory (graph nodes: every field access a
/// load that may not be hoisted across stores). mmfree's functors are plain descriptors < 4 KiB.
template <class Policy>
auto light(const Policy& p) {
  return ::Kokkos::Experimental::require(p, ::Kokkos::Experimental::WorkItemProperty::HintLightWeight);
}

/// The policy as a graph node sees it (its kernel is a separate instantiation).
template <class Policy>
auto in_graph(const Policy& p) {
  return ::Kokkos::Experimental::require(p, ::Kokkos::Impl::KernelInGraphProperty{});
}

/// Threads a team of space Ex has in mmfree's kernels.
template <class Ex>
inline constexpr int team_threads = SpaceTraits<Ex>::group * SpaceTraits<Ex>::groups;

/// \brief Sum of `v` over the `G` lanes of a SIMD group (G a power of two, lanes consecutive).
///
/// On host spaces G is 1; the device branches are the only ones that run with G > 1.
template <int G>
KOKKOS_INLINE_FUNCTION std::int32_t group_sum(std::int32_t v) {
  if constexpr (G > 1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    if constexpr (G == 32) {
      v = __reduce_add_sync(0xffffffffu, v);
    } else {
      for (int o = G / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o, G);
    }
#elif defined(__CUDA_ARCH__)
    for (int o = G / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o, G);
#elif defined(__HIP_DEVICE_COMPILE__)
    for (int o = G / 2; o > 0; o >>= 1) v += __shfl_xor(v, o, G);
#endif
  }
  return v;
}

struct SumOp {
  template <class T>
  KOKKOS_INLINE_FUNCTION T operator()(T a, T b) const { return a + b; }
};
/// max for absolute values (never NaN-propagating: like the oracle's `a > m ? a : m`)
struct MaxOp {
  KOKKOS_INLINE_FUNCTION float operator()(float a, float b) const { return b > a ? b : a; }
};

/// \brief Reduction of `v` over the `G` lanes of a SIMD group with a commutative op; every lane
/// gets the same bits (a butterfly: each step combines two equal-valued halves). On CUDA sm_80+
/// int32 sums and maxima of non-negative floats (ordered like their bit patterns) are one
/// warp-wide instruction.
template <int G, class T, class Op>
KOKKOS_INLINE_FUNCTION T group_reduce(T v, [[maybe_unused]] Op op) {
  if constexpr (G > 1) {
#if defined(__CUDA_ARCH__)
#if __CUDA_ARCH__ >= 800
    if constexpr (G == 32 && std::is_same_v<T, std::int32_t> && std::is_same_v<Op, SumOp>) {
      return __reduce_add_sync(0xffffffffu, v);
    } else if constexpr (G == 32 && std::is_same_v<T, float> && std::is_same_v<Op, MaxOp>) {
      return __int_as_float(__reduce_max_sync(0xffffffffu, __float_as_int(v)));  // v >= +0, never NaN
    } else
#endif
    {
      for (int o = G / 2; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o, G));
    }
#elif defined(__HIP_DEVICE_COMPILE__)
    for (int o = G / 2; o > 0; o >>= 1) v = op(v, __shfl_xor(v, o, G));
#endif
  }
  return v;
}

/// \brief Sum of `v` over aligned segments of `width` lanes of a SIMD group (width a power of
/// two dividing G; every lane of the group calls it): each lane gets its segment's total.
template <int G>
KOKKOS_INLINE_FUNCTION std::int32_t segment_sum(std::int32_t v, [[maybe_unused]] int width) {
  if constexpr (G > 1) {
    if (width == G) return group_sum<G>(v);
#if defined(__CUDA_ARCH__)
    for (int o = width / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o, G);
#elif defined(__HIP_DEVICE_COMPILE__)
    for (int o = width / 2; o > 0; o >>= 1) v += __shfl_xor(v, o, G);
#endif
  }
  return v;
}

/// `v` of the lane (this lane xor o) of the SIMD group; every lane calls it (host spaces: v).
template <int G>
KOKKOS_INLINE_FUNCTION float group_shfl_xor(float v, [[maybe_unused]] int o) {
  if constexpr (G > 1) {
#if defined(__CUDA_ARCH__)
    v = __shfl_xor_sync(0xffffffffu, v, o, G);
#elif defined(__HIP_DEVICE_COMPILE__)
    v = __shfl_xor(v, o, G);
#endif
  }
  return v;
}

/// \brief A load of data another team may have written during this kernel (after the
/// release/acquire fences of a "last team" hand-off): past the non-coherent L1 on GPUs.
KOKKOS_INLINE_FUNCTION float load_coherent(const float* p) {
#if defined(__CUDA_ARCH__)
  return __ldcg(p);
#elif defined(__HIP_DEVICE_COMPILE__)
  return *static_cast<const volatile float*>(p);
#else
  return *p;
#endif
}

/// Most SIMD groups a team of mmfree's kernels has (1024 threads of 32-lane groups).
inline constexpr int max_groups = 32;

/// \brief Team-wide reduction with one barrier, in a fixed order (deterministic, and the same
/// result in every thread): lanes by butterfly, then the groups' results by a second butterfly
/// over `max_groups` slots (`identity` past the contributing groups), which every group computes
/// alike. Only the first `pg` SIMD groups (at most the team's) contribute: the others' `v` is
/// ignored, they only meet the barrier and read the result.
///
/// `slots` is team scratch for `max_groups` values of T; calls must alternate between two slot
/// arrays (the barrier of the next call protects the slots of this one). Host spaces (G == 1)
/// run teams of one thread: no slots, no barrier.
template <int G, class Member, class T, class Op>
KOKKOS_INLINE_FUNCTION T team_reduce([[maybe_unused]] const Member& m, T v, [[maybe_unused]] T* slots, Op op,
                                     [[maybe_unused]] T identity, [[maybe_unused]] int pg) {
  if constexpr (G == 1) {
    return v;
  } else {
    static_assert(G == max_groups, "the second butterfly runs over one SIMD group of max_groups lanes");
    const int r = m.team_rank(), lane = r % G, groups = m.team_size() / G;
    pg = pg < groups ? pg : groups;
    if (r / G < pg) {
      v = group_reduce<G>(v, op);
      if (lane == 0) slots[r / G] = v;
    }
    m.team_barrier();
    return group_reduce<G>(lane < pg ? slots[lane] : identity, op);
  }
}
/// \brief team_reduce of N values at once (one barrier for all): v[i] becomes the team's
/// reduction of v[i] in every thread. `slots` holds N * max_groups values of T.
template <int G, int N, class Member, class T, class Op>
KOKKOS_INLINE_FUNCTION void team_reduce_n([[maybe_unused]] const Member& m, [[maybe_unused]] T (&v)[N],
                                          [[maybe_unused]] T* slots, [[maybe_unused]] Op op,
                                          [[maybe_unused]] T identity) {
  if constexpr (G > 1) {
    static_assert(G == max_groups, "the second butterfly runs over one SIMD group of max_groups lanes");
    const int r = m.team_rank(), lane = r % G, groups = m.team_size() / G;
    for (int i = 0; i < N; ++i) {
      const T t = group_reduce<G>(v[i], op);
      if (lane == 0) slots[i * max_groups + r / G] = t;
    }
    m.team_barrier();
    for (int i = 0; i < N; ++i) v[i] = group_reduce<G>(lane < groups ? slots[i * max_groups + lane] : identity, op);
  }
}
/// \brief Like team_reduce, then `fn(total)` (a scalar step such as 1/sqrt(mean + eps)) computed
/// once by group 0 and handed to every thread: the other groups skip the second butterfly and
/// the scalar work (in a latency-bound kernel every instruction of every warp counts). Two
/// barriers; `slots` holds max_groups + 2 values of T (fn's result goes after the groups').
template <int G, class Member, class T, class Op, class Fn>
KOKKOS_INLINE_FUNCTION auto team_reduce_apply([[maybe_unused]] const Member& m, T v, [[maybe_unused]] T* slots, Op op,
                                              [[maybe_unused]] T identity, [[maybe_unused]] int pg, Fn fn) {
  if constexpr (G == 1) {
    return fn(v);
  } else {
    using R = decltype(fn(v));
    static_assert(sizeof(R) <= 2 * sizeof(T), "fn's result must fit two slots");
    const int r = m.team_rank(), lane = r % G, groups = m.team_size() / G;
    pg = pg < groups ? pg : groups;
    if (r / G < pg) {
      v = group_reduce<G>(v, op);
      if (lane == 0) slots[r / G] = v;
    }
    m.team_barrier();
    R* out = reinterpret_cast<R*>(slots + max_groups);
    if (r < G) {  // group 0
      const T total = group_reduce<G>(lane < pg ? slots[lane] : identity, op);
      if (lane == 0) *out = fn(total);
    }
    m.team_barrier();
    return *out;
  }
}
/// \brief c + the dot product of four signed bytes of `a` and `b` (exact, int32).
///
/// __dp4a on CUDA, the sdot4 instruction on AMD GPUs that have it, four multiply-adds elsewhere:
/// all give the same integer.
KOKKOS_INLINE_FUNCTION std::int32_t dot4(std::uint32_t a, std::uint32_t b, std::int32_t c) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 610
  return __dp4a(int(a), int(b), c);
#elif defined(__HIP_DEVICE_COMPILE__) && defined(__gfx906__)
  return __builtin_amdgcn_sdot4(int(a), int(b), c, false);
#else
  for (int i = 0; i < 4; ++i) c += int(std::int8_t(a >> (8 * i))) * int(std::int8_t(b >> (8 * i)));
  return c;
#endif
}

/// \brief c + the dot product of four unsigned bytes of `a` and four signed bytes of `b` (exact,
/// int32): one `dp4a.u32.s32` on CUDA, four multiply-adds elsewhere.
KOKKOS_INLINE_FUNCTION std::int32_t dot4_us(std::uint32_t a, std::uint32_t b, std::int32_t c) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 610
  std::int32_t d;
  asm("dp4a.u32.s32 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(c));
  return d;
#else
  for (int i = 0; i < 4; ++i) c += int((a >> (8 * i)) & 0xffu) * int(std::int8_t(b >> (8 * i)));
  return c;
#endif
}

/// Bytewise b - 1 for bytes in [0, 2] (offset ternary codes -> signed -1/0/+1), no borrow between bytes.
KOKKOS_INLINE_FUNCTION std::uint32_t minus_one_bytes(std::uint32_t w) {
  return ((w | 0x80808080u) - 0x01010101u) ^ 0x80808080u;
}

/// Hint: bring the 128-byte line at p into the L1 cache (GPUs; nothing elsewhere).
KOKKOS_INLINE_FUNCTION void prefetch_line([[maybe_unused]] const void* p) {
#if defined(__CUDA_ARCH__)
  asm volatile("prefetch.global.L1 [%0];" ::"l"(p));
#endif
}

/// Hint: bring the 128-byte line at p into the L2 cache (CUDA; nothing elsewhere).
KOKKOS_INLINE_FUNCTION void prefetch_l2([[maybe_unused]] const void* p) {
#if defined(__CUDA_ARCH__)
  asm volatile("prefetch.global.L2 [%0];" ::"l"(p));
#endif
}

/// \brief Adds 1 to *p at device scope with release and acquire semantics; returns the old value.
/// One `atom.acq_rel.gpu` on CUDA (sm_70+), fences around a Kokkos atomic elsewhere.
KOKKOS_INLINE_FUNCTION int atomic_inc_acq_rel(int* p) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 700
  int old;
  asm volatile("atom.acq_rel.gpu.global.add.s32 %0, [%1], 1;" : "=r"(old) : "l"(p) : "memory");
  return old;
#else
  ::Kokkos::memory_fence();
  const int old = ::Kokkos::atomic_fetch_add(p, 1);
  ::Kokkos::memory_fence();
  return old;
#endif
}

/// \brief Programmatic dependent launch, device side (CUDA sm_90+; no-ops elsewhere and for
/// kernels launched through an ordinary edge). A kernel that a programmatic graph edge lets start
/// before its predecessor has finished calls grid_dependency_wait() before it reads anything an
/// earlier launch writes and before it writes anything: the call returns once every earlier
/// kernel has finished and its writes are visible. Work before it (weight loads, addresses)
/// overlaps the previous kernel's tail.
KOKKOS_INLINE_FUNCTION void grid_dependency_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
/// Lets the kernels that depend on this one through programmatic edges start (once every team
/// of this kernel has called it or exited). Called right after grid_dependency_wait(), so at most
/// two kernels are in flight: this one and the next one's early part.
KOKKOS_INLINE_FUNCTION void grid_dependents_may_start() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

#if defined(KOKKOS_ENABLE_CUDA) && KOKKOS_VERSION >= 40600 && defined(CUDART_VERSION) && CUDART_VERSION >= 12030
#define MMFREE_KK_PROGRAMMATIC 1
#else
#define MMFREE_KK_PROGRAMMATIC 0
#endif

/// Whether graphs of space Ex can start kernels early (see make_programmatic): CUDA 12.3+,
/// Kokkos 4.6+, and the current device of compute capability 9.0 or later.
template <class Ex>
bool programmatic_launch_available() {
#if MMFREE_KK_PROGRAMMATIC
  if constexpr (std::is_same_v<Ex, ::Kokkos::Cuda>) {
    int dev = 0, major = 0;
    return cudaGetDevice(&dev) == cudaSuccess &&
           cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) == cudaSuccess && major >= 9;
  }
#endif
  return false;
}

/// \brief Programmatic dependent launch, graph side: the edge into the i-th kernel of a linear
/// graph (root, then one kernel after the other, as Launcher builds it) becomes programmatic where
/// `early[i]` is set and node i - 1 is a kernel too, so kernel i may start while kernel i - 1
/// runs (it must call grid_dependency_wait(), see above). Needs CUDA 12.3+, a device of compute
/// capability 9.0+ and Kokkos 4.6+ (Graph::native_graph); elsewhere, or if the graph is not that
/// chain, nothing changes. Call before the graph's first submit(). Returns the edges changed.
template <class Ex>
int make_programmatic([[maybe_unused]] Graph<Ex>& g, [[maybe_unused]] const std::vector<unsigned char>& early) {
#if MMFREE_KK_PROGRAMMATIC
  if constexpr (std::is_same_v<Ex, ::Kokkos::Cuda>) {
    if (!programmatic_launch_available<Ex>()) return 0;
    cudaGraph_t cg = g.native_graph();
    // the chain, in launch order
    std::vector<cudaGraphNode_t> chain;
    std::size_t n = 1;
    cudaGraphNode_t node = nullptr;
    if (cudaGraphGetRootNodes(cg, &node, &n) != cudaSuccess || n != 1) return 0;
    for (;;) {
      cudaGraphNode_t next[2];
      std::size_t nn = 2;
#if CUDART_VERSION >= 13000
      if (cudaGraphNodeGetDependentNodes(node, next, nullptr, &nn) != cudaSuccess) return 0;
#else
      if (cudaGraphNodeGetDependentNodes_v2(node, next, nullptr, &nn) != cudaSuccess) return 0;
#endif
      if (nn == 0) break;
      if (nn != 1) return 0;
      node = next[0];
      chain.push_back(node);
    }
    if (chain.size() != early.size()) return 0;
    auto is_kernel = [](cudaGraphNode_t x) {
      cudaGraphNodeType t;
      return cudaGraphNodeGetType(x, &t) == cudaSuccess && t == cudaGraphNodeTypeKernel;
    };
    int changed = 0;
    for (std::size_t i = 1; i < chain.size(); ++i) {
      if (!early[i] || !is_kernel(chain[i - 1]) || !is_kernel(chain[i])) continue;
      cudaGraphEdgeData e{};
      e.from_port = cudaGraphKernelNodePortProgrammatic;
      e.type = cudaGraphDependencyTypeProgrammatic;
#if CUDART_VERSION >= 13000
      if (cudaGraphRemoveDependencies(cg, &chain[i - 1], &chain[i], nullptr, 1) != cudaSuccess) break;
      if (cudaGraphAddDependencies(cg, &chain[i - 1], &chain[i], &e, 1) != cudaSuccess) {
        (void)cudaGraphAddDependencies(cg, &chain[i - 1], &chain[i], nullptr, 1);  // as it was
        break;
      }
#else
      if (cudaGraphRemoveDependencies_v2(cg, &chain[i - 1], &chain[i], nullptr, 1) != cudaSuccess) break;
      if (cudaGraphAddDependencies_v2(cg, &chain[i - 1], &chain[i], &e, 1) != cudaSuccess) {
        (void)cudaGraphAddDependencies_v2(cg, &chain[i - 1], &chain[i], nullptr, 1);
        break;
      }
#endif
      ++changed;
    }
    (void)cudaGetLastError();  // a refused edge is not an error of the next launch
    return changed;
  }
#endif
  return 0;
}

/// Level-0 (fast, per-team) scratch of a team, 16-byte aligned, as a byte pointer.
template <class Member>
KOKKOS_INLINE_FUNCTION unsigned char* team_scratch(const Member& m, std::size_t bytes) {
  return static_cast<unsigned char*>(m.team_shmem().get_shmem_aligned(bytes, 16));
}

/// 16 bytes, loaded and stored as one vector access.
struct alignas(16) U4 {
  std::uint32_t x, y, z, w;
};

/// Loads of packed data at addresses with the stated alignment: one vector access on GPUs; on
/// the host memcpy (no type punning, which the host compiler may assume away).
KOKKOS_INLINE_FUNCTION U4 load16(const void* p) {
#if defined(__CUDA_ARCH__) || defined(__HIP_DEVICE_COMPILE__)
  return *static_cast<const U4*>(p);
#else
  U4 v;
  std::memcpy(&v, p, 16);
  return v;
#endif
}
KOKKOS_INLINE_FUNCTION void store16(void* p, const U4& v) {
#if defined(__CUDA_ARCH__) || defined(__HIP_DEVICE_COMPILE__)
  *static_cast<U4*>(p) = v;
#else
  std::memcpy(p, &v, 16);
#endif
}
KOKKOS_INLINE_FUNCTION std::uint32_t load4(const void* p) {
#if defined(__CUDA_ARCH__) || defined(__HIP_DEVICE_COMPILE__)
  return *static_cast<const std::uint32_t*>(p);
#else
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
#endif
}

}  // namespace kk
MMFREE_NAMESPACE_END
