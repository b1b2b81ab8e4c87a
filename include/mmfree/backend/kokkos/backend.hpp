// SPDX-License-Identifier: MIT
// backend::Kokkos<ExecutionSpace>: mmfree on any Kokkos execution space (CUDA, HIP, OpenMP,
// Serial...). The memory space wraps the execution space's; the context records the hooks a
// forward pass calls, fuses them and replays repeated passes (decode steps) as one graph.
#pragma once

#include <algorithm>
#include <chrono>
#include <memory>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "../../core/buffer.hpp"
#include "../../core/error.hpp"
#include "compat.hpp"
#include "program.hpp"
#include "row_kernels.hpp"

MMFREE_NAMESPACE_BEGIN
namespace kk {

/// \brief Memory of execution space Ex, in the shape Buffer, State, Workspace and Model expect.
///
/// Also counts the bytes mmfree holds there (current and peak), for benchmarks.
template <class Ex>
struct MemorySpace {
  using kokkos_space = typename Ex::memory_space;
  static constexpr bool host_accessible =
      ::Kokkos::SpaceAccessibility<::Kokkos::HostSpace, kokkos_space>::accessible;
  static std::string_view name() { return kokkos_space::name(); }

  static void* allocate(std::size_t bytes) {
    if (bytes == 0) return nullptr;
    void* p = nullptr;
    try {
      p = ::Kokkos::kokkos_malloc<kokkos_space>("mmfree", bytes);
    } catch (const std::exception& e) {
      throw Error("out of " + std::string(name()) + " memory allocating " + std::to_string(bytes) +
                  " bytes: " + e.what());
    }
    if (p == nullptr) throw Error("out of " + std::string(name()) + " memory allocating " + std::to_string(bytes) + " bytes");
    // kernels load 16-byte vectors from arena offsets that are multiples of 64
    check(reinterpret_cast<std::uintptr_t>(p) % 64 == 0, "Kokkos returned memory that is not 64-byte aligned");
    auto& s = stats();
    std::lock_guard<std::mutex> lock(s.mutex);
    s.sizes[p] = bytes;
    s.current += bytes;
    s.peak = std::max(s.peak, s.current);
    return p;
  }
  static void deallocate(void* p) noexcept {
    if (p == nullptr) return;
    {
      auto& s = stats();
      std::lock_guard<std::mutex> lock(s.mutex);
      auto it = s.sizes.find(p);
      if (it != s.sizes.end()) {
        s.current -= it->second;
        s.sizes.erase(it);
      }
    }
    ::Kokkos::kokkos_free<kokkos_space>(p);
  }
  static void copy_from_host(void* dst, const void* src, std::size_t bytes) {
    if (bytes == 0) return;
    ::Kokkos::deep_copy(device_bytes(dst, bytes), host_bytes(src, bytes));
  }
  static void copy_to_host(void* dst, const void* src, std::size_t bytes) {
    if (bytes == 0) return;
    ::Kokkos::deep_copy(host_bytes_out(dst, bytes), const_device_bytes(src, bytes));
  }
  static void fill_zero(void* dst, std::size_t bytes) {
    if (bytes == 0) return;
    ::Kokkos::deep_copy(device_bytes(dst, bytes), std::uint8_t(0));
  }

  /// Bytes mmfree holds in this space now, and the most it held since the last reset_peak().
  static std::size_t bytes_in_use() {
    std::lock_guard<std::mutex> lock(stats().mutex);
    return stats().current;
  }
  static std::size_t peak_bytes() {
    std::lock_guard<std::mutex> lock(stats().mutex);
    return stats().peak;
  }
  static void reset_peak() {
    std::lock_guard<std::mutex> lock(stats().mutex);
    stats().peak = stats().current;
  }

 private:
  template <class T, class S>
  using unmanaged = ::Kokkos::View<T*, S, ::Kokkos::MemoryTraits<::Kokkos::Unmanaged>>;
  static unmanaged<std::uint8_t, kokkos_space> device_bytes(void* p, std::size_t n) {
    return unmanaged<std::uint8_t, kokkos_space>(static_cast<std::uint8_t*>(p), n);
  }
  static unmanaged<const std::uint8_t, kokkos_space> const_device_bytes(const void* p, std::size_t n) {
    return unmanaged<const std::uint8_t, kokkos_space>(static_cast<const std::uint8_t*>(p), n);
  }
  static unmanaged<const std::uint8_t, ::Kokkos::HostSpace> host_bytes(const void* p, std::size_t n) {
    return unmanaged<const std::uint8_t, ::Kokkos::HostSpace>(static_cast<const std::uint8_t*>(p), n);
  }
  static unmanaged<std::uint8_t, ::Kokkos::HostSpace> host_bytes_out(void* p, std::size_t n) {
    return unmanaged<std::uint8_t, ::Kokkos::HostSpace>(static_cast<std::uint8_t*>(p), n);
  }
  struct Stats {
    std::mutex mutex;
    std::unordered_map<void*, std::size_t> sizes;
    std::size_t current = 0, peak = 0;
  };
  static Stats& stats() {
    static Stats s;
    return s;
  }
};

/// Wall time per kernel label (Options::profile): every launch fenced, totals and counts.
struct LaunchProfile {
  struct Entry {
    std::string label;
    double seconds = 0;
    long count = 0;
  };
  std::vector<Entry> entries;
  void add(const char* label, double s) {
    for (auto& e : entries)
      if (e.label == label) {
        e.seconds += s, ++e.count;
        return;
      }
    entries.push_back({label, s, 1});
  }
};

/// \brief Runs launches eagerly on an execution space instance, or appends them to a graph.
/// Every policy gets the light-weight hint (see kk::light).
template <class Ex>
struct Launcher {
  Ex ex;
  bool graph = false;
  GraphNode<Ex> node{};
  LaunchProfile* profile = nullptr;
  /// graph mode: one flag a node, set where the kernel may start before the previous one ends
  /// (see make_programmatic)
  std::vector<unsigned char>* early = nullptr;

  /// Launches f over policy0. `waits`: f calls grid_dependency_wait() before it touches memory
  /// that earlier launches write or read (so a graph may start it early).
  template <class Policy0, class F>
  void operator()(const char* label, const Policy0& policy0, const F& f, bool waits = false) {
    const auto policy = light(policy0);
    if (graph) {
      node = node.then_parallel_for(label, policy, f);
      if (early != nullptr) early->push_back(waits ? 1 : 0);
    } else if (profile != nullptr) {
      ex.fence();
      const auto t0 = std::chrono::steady_clock::now();
      ::Kokkos::parallel_for(label, policy, f);
      ex.fence();
      profile->add(label, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    } else {
      ::Kokkos::parallel_for(label, policy, f);
    }
  }
};

/// \brief Run-time options of the Kokkos backend's context.
struct Options {
  PlanOptions plan;     ///< fusion and kernel choice
  bool graphs = true;   ///< replay a program seen twice in a row as one graph (a CUDA graph on CUDA)
  bool profile = false; ///< run launch by launch, each fenced and timed (see Context::profile())
  /// graphs on CUDA (sm_90+, CUDA 12.3+, Kokkos 4.6+): a decode GEMV may start while the kernel
  /// before it runs (programmatic dependent launch: its weight loads and set-up overlap that
  /// kernel's tail; it waits for the kernel's results before it reads them)
  bool programmatic = true;
};

/// Counters of what the context did (for tests and benchmarks).
struct ContextStats {
  long programs = 0;        ///< run() calls
  long graph_builds = 0;    ///< graphs created
  long graph_replays = 0;   ///< programs run by replaying a graph
  long eager_programs = 0;  ///< programs run launch by launch
  long eager_hooks = 0;     ///< hooks called outside run(), each run at once
  long programmatic_edges = 0;  ///< graph edges made programmatic (see Options::programmatic)
  int last_launches = 0;    ///< launches in the last program's plan
};

/// \brief The backend context: execution space instance, program recorder, plan and graph cache,
/// and the device scratch the fused kernels use. Create one per Workspace (Model does).
template <class Ex>
class Context {
 public:
  using execution_space = Ex;
  using memory_space = MemorySpace<Ex>;

  Context() : Context(Ex{}) {}
  explicit Context(Ex ex, Options opt = {}) : ex_(std::move(ex)), opt_(opt) {}
  Context(Context&&) noexcept = default;
  Context& operator=(Context&&) noexcept = default;

  /// The execution space instance kernels run on.
  const Ex& space() const { return ex_; }
  const Options& options() const { return opt_; }
  /// Changes the options; the next program is planned afresh.
  void set_options(const Options& o) {
    opt_ = o;
    forget();
  }
  const ContextStats& stats() const { return stats_; }
  /// Time per kernel label while Options::profile is set.
  const LaunchProfile& profile() const { return profile_; }
  void clear_profile() { profile_.entries.clear(); }

  /// \brief Runs `f`, which calls kernel hooks, as one program: the hooks are recorded, planned
  /// into fused launches and run; a program identical to the previous one is replayed as a graph.
  ///
  /// Inside run(), scratch buffers of the workspace hold unspecified values afterwards: only
  /// what the program leaves in non-scratch outputs (hidden states, recurrent state, logits) is
  /// defined. Nested calls join the outer program. Asynchronous: copy results out with the
  /// memory space (which waits for the device).
  template <class F>
  void run(F&& f) {
    if (recording_) {
      f();
      return;
    }
    recording_ = true;
    ops_.clear();
    try {
      f();
    } catch (...) {
      recording_ = false;
      ops_.clear();
      throw;
    }
    recording_ = false;
    ++stats_.programs;
    const bool graphs = opt_.graphs && !opt_.profile;
    Program* p = find_program(ops_);
    if (p != nullptr && p->graph && graphs) {
      p->graph->submit();
      ++stats_.graph_replays;
      stats_.last_launches = int(p->plan.size());
      return;
    }
    if (p == nullptr) {  // first sighting: plan it (the least recently used program makes room)
      p = new_program();
      p->ops = ops_;
      plan(p->ops, p->plan);
    }
    stats_.last_launches = int(p->plan.size());
    if (graphs && p->seen > 1) {  // seen before: from now on one graph
      std::vector<unsigned char> early;
      p->graph = ::Kokkos::Experimental::create_graph(ex_, [&](const auto& root) {
        Launcher<Ex> L{ex_, true, root, nullptr, &early};
        dispatch_all(L, p->plan);
      });
      if (opt_.programmatic) stats_.programmatic_edges += make_programmatic(*p->graph, early);
      ++stats_.graph_builds;
      p->graph->submit();
      ++stats_.graph_replays;
    } else {
      Launcher<Ex> L{ex_, false, {}, opt_.profile ? &profile_ : nullptr};
      dispatch_all(L, p->plan);
      ++stats_.eager_programs;
    }
  }

  /// Called by the hooks: records the op inside run(), else runs it at once (unfused).
  void submit(const Op& op) {
    if (recording_) {
      ops_.push_back(op);
      return;
    }
    ++stats_.eager_hooks;
    one_op_.assign(1, op);
    plan(one_op_, one_plan_, /*fuse=*/false);
    Launcher<Ex> L{ex_, false, {}};
    dispatch_all(L, one_plan_);
  }

  /// Waits for everything this context launched.
  void fence() const { ex_.fence(); }

 private:
  /// \brief A program seen recently: its ops, plan and (from its second run on) its graph.
  /// A few are kept, so that alternating programs (the chunks of a long prompt and its last
  /// chunk, prefill and decode) are each replayed rather than planned and captured again.
  struct Program {
    std::vector<Op> ops;
    std::vector<Launch> plan;
    std::optional<Graph<Ex>> graph;
    long seen = 0;      ///< runs so far, this one included
    long last_use = 0;  ///< run counter at the last run
  };
  static constexpr std::size_t max_programs = 4;

  Program* find_program(const std::vector<Op>& ops) {
    for (auto& p : programs_)
      if (p->ops == ops) {
        ++p->seen;
        p->last_use = ++uses_;
        return p.get();
      }
    return nullptr;
  }
  Program* new_program() {
    if (programs_.size() >= max_programs) {
      auto lru = std::min_element(programs_.begin(), programs_.end(),
                                  [](const auto& a, const auto& b) { return a->last_use < b->last_use; });
      programs_.erase(lru);
    }
    programs_.push_back(std::make_unique<Program>());
    Program* p = programs_.back().get();
    p->seen = 1;
    p->last_use = ++uses_;
    return p;
  }

  /// Drops the cached plans and graphs (the options changed).
  void forget() { programs_.clear(); }

  template <class T>
  void grow(Buffer<T, memory_space>& b, index_t n) {
    if (b.size() >= n) return;
    b = Buffer<T, memory_space>(n);
    forget_pointers_ = true;
  }

  /// Turns recorded ops into launches (fusing when allowed) and sizes the scratch they use.
  void plan(const std::vector<Op>& ops, std::vector<Launch>& out, bool fuse = true) {
    const PlanOptions& po = opt_.plan;
    fuse = fuse && po.fuse;
    out.clear();
    const index_t concurrency = index_t(ex_.concurrency());
    constexpr bool gpu = SpaceTraits<Ex>::gpu;
    const index_t multiprocessors = gpu ? std::max<index_t>(1, concurrency / 2048) : concurrency;
#if defined(KOKKOS_ENABLE_CUDA)
    constexpr bool gpu_has_mma = std::is_same_v<Ex, ::Kokkos::Cuda>;  // mma.sync: sm_80+ (mmfree builds for sm_90)
#else
    constexpr bool gpu_has_mma = false;
#endif
    ScratchNeeds need;
    index_t chain_kp = 0;       // longest chained input (codes a BitLinear of a slot)
    bool pending_copy = false;  // the previous gemv staged a recurrent state to copy
    Mat pending_dst;
    auto flush_copy = [&](Stage* into) {
      if (!pending_copy) return;
      if (into != nullptr) {
        into->copy_src = Mat{};
        into->copy_src.rows = pending_dst.rows, into->copy_src.cols = pending_dst.cols;
        into->copy_src.stride = pending_dst.cols;  // pointer set once scratch is allocated
        into->copy_dst = pending_dst;
      } else {
        Launch c;
        c.kind = Launch::copy;
        c.s.copy_dst = pending_dst;
        c.s.copy_src.rows = pending_dst.rows, c.s.copy_src.cols = pending_dst.cols;
        c.s.copy_src.stride = pending_dst.cols;
        out.push_back(c);
      }
      pending_copy = false;
    };
    for (std::size_t i = 0; i < ops.size();) {
      Stage st;
      const std::size_t used = fuse ? match_stage(ops, i, st) : 0;
      if (used == 0 && ops[i].kind == OpKind::bitlinear) {
        // a lone BitLinear: a stage without prologue (never fused with neighbours)
        st = Stage{};
        st.nbl = 1;
        st.bl[0] = ops[i].t;
        st.y[0] = ops[i].c;
        st.x = st.in = ops[i].a;
        st.ops = ops[i].ops;
        st.R = ops[i].a.rows;
        st.K = ops[i].t.cols;
      } else if (used == 0) {
        check(ops[i].a.rows * std::max(ops[i].a.cols, ops[i].c.cols) < (index_t(1) << 31) &&
                  ops[i].c.rows * ops[i].c.cols < (index_t(1) << 31),
              "backend::Kokkos: a kernel over 2^31 elements");
        flush_copy(nullptr);
        Launch l;
        l.kind = Launch::op;
        l.o = ops[i];
        if (ops[i].kind == OpKind::scan) need.xbuf = std::max(need.xbuf, ops[i].batch * ops[i].T * ops[i].a.cols);
        out.push_back(l);
        ++i;
        continue;
      }
      const bool chain = st.R == 1 && po.gemv && po.gemv_chain;
      if (chain) {
        // the input is quantised once: by the previous launch's last team when that is a chained
        // GEMV too, else by a one-team launch first; consecutive stages alternate code slots
        flush_copy(nullptr);
        Launch l;
        l.kind = Launch::gemv;
        l.s = st;
        l.s.prefetch = po.prefetch;
        l.s.team = po.gemv_team;
        l.s.rows_per_group = po.gemv_rows_per_group;
        l.s.chained = true;
        const bool after_gemv = !out.empty() && out.back().kind == Launch::gemv && out.back().s.chained;
        l.s.slot = after_gemv ? 1 - out.back().s.slot : 0;
        for (int b = 0; b < st.nbl; ++b) chain_kp = std::max(chain_kp, st.bl[b].kp);
        need.xbuf = std::max(need.xbuf, st.K);
        if (!after_gemv) {
          Launch q = l;
          q.kind = Launch::gprep;
          q.s.team = 0;
          out.push_back(q);
        }
        out.push_back(l);
        i += used == 0 ? 1 : used;
        continue;
      }
      const bool gemv = st.R == 1 && po.gemv && gemv_scratch_bytes(st) <= std::size_t(po.gemv_smem_bytes);
      // The launch before, when it is a fused GEMV that can still take an epilogue.
      auto epilogue_host = [&]() -> Stage* {
        if (!gemv || !po.gemv_epilogues || out.empty() || out.back().kind != Launch::gemv) return nullptr;
        Stage& p = out.back().s;
        return !p.chained && !p.residual && p.epi == Epilogue::none ? &p : nullptr;
      };
      Stage* p = st.pro == Prologue::glu || st.pro == Prologue::scan_gated ? epilogue_host() : nullptr;
      if (p != nullptr && st.pro == Prologue::glu) {
        // GEMV u = BitLinear(..) then GEMV on silu(u[:K]) * u[K:]: the first computes the GLU in
        // its epilogue (v, once per element), the second quantises v as it is
        if (p->nbl == 1 && p->y[0] == st.x && p->bl[0].rows == 2 * st.K && st.in.rows == 1 && st.in.cols == st.K &&
            !st.in.overlaps(p->y[0]) && !st.in.overlaps(p->x)) {
          p->epi = Epilogue::glu;
          p->e_out = st.in;
          st.pro = Prologue::none;
          st.x = st.in;
        }
      } else if (p != nullptr && p->nbl == 3) {
        // GEMV i, f, g then GEMV on gated_norm(g, scan(i, f)): the first does the recurrence step
        // in its epilogue (writes the new state to the state and to i, as the scan hook does);
        // the second is a plain gated-norm stage over (g, i)
        int ei = -1, ef = -1;
        for (int b = 0; b < 3; ++b) {
          if (p->y[b] == st.si) ei = b;
          if (p->y[b] == st.sf) ef = b;
        }
        Stage with = *p;
        with.epi = Epilogue::mlgru;
        if (ei >= 0 && ef >= 0 && ei != ef && p->bl[ei].rows == st.K && p->bl[ef].rows == st.K &&
            p->bl[3 - ei - ef].rows == st.K && st.si.rows == 1 && st.state.cols == st.K &&
            gemv_scratch_bytes(with) <= std::size_t(po.gemv_smem_bytes) && !st.state.overlaps(p->x) &&
            !st.state.overlaps(p->y[0]) && !st.state.overlaps(p->y[1]) && !st.state.overlaps(p->y[2])) {
          p->epi = Epilogue::mlgru;
          p->e_i = ei, p->e_f = ef;
          p->e_state = st.state;
          p->e_state.rows = 1;
          p->e_lb = st.lb;
          st.pro = Prologue::gated;  // s = st.si, which now holds the new state
          st.sf = st.state = Mat{};
          st.lb = nullptr;
        }
      }
      // a staged state must be copied before a launch that stages again
      if (pending_copy && (gemv && st.pro == Prologue::scan_gated)) flush_copy(nullptr);
      if (pending_copy && (st.state.overlaps(pending_dst))) flush_copy(nullptr);
      Launch l;
      l.s = st;
      l.s.prefetch = po.prefetch;
      if (gemv) {
        // team size and rows per SIMD group are settled at launch (they depend on the kernel's
        // registers); see launch_gemv
        l.s.team = po.gemv_team;
        l.s.rows_per_group = po.gemv_rows_per_group;
        l.s.pro_threads = po.gemv_prologue_threads;
        l.s.wave_percent = po.gemv_wave_percent;
        l.kind = Launch::gemv;
        flush_copy(&l.s);
        if (st.pro == Prologue::scan_gated) {
          need.staged = std::max(need.staged, st.R * st.K);
          pending_copy = true;
          pending_dst = st.state;
          pending_dst.rows = st.R;
        }
        out.push_back(l);
      } else {
        index_t kp = 0;
        for (int b = 0; b < st.nbl; ++b) kp = std::max(kp, st.bl[b].kp);
        need.codes = std::max(need.codes, index_t(st.nbl) * st.R * kp);
        need.scales = std::max(need.scales, index_t(st.nbl) * st.R);
        need.xbuf = std::max(need.xbuf, st.R * st.K);
        l.kind = Launch::prep;
        flush_copy(&l.s);
        out.push_back(l);
        l.kind = Launch::gemm;
        l.s.copy_src = l.s.copy_dst = Mat{};
        l.s.mma = po.tensor_cores && gpu_has_mma;
        if (po.gemm_tile >= 0) {
          l.s.tile = std::min(po.gemm_tile, 2);
        } else if (st.R <= po.small_tile_rows) {
          l.s.tile = 2;
        } else {  // the 64 x 128 tile unless it leaves multiprocessors idle
          index_t teams = 0;
          for (int b = 0; b < st.nbl; ++b) teams += ((st.R + 63) / 64) * ((st.bl[b].rows + 127) / 128);
          l.s.tile = teams >= 2 * multiprocessors ? 0 : 1;
        }
        out.push_back(l);
      }
      i += used == 0 ? 1 : used;
    }
    flush_copy(nullptr);
    // scratch, then the pointers into it
    forget_pointers_ = false;
    grow(codes_, need.codes);
    grow(scales_, need.scales);
    grow(xbuf_, need.xbuf);
    grow(staged_, need.staged);
    if (chain_kp > chain_kp_) {
      chain_kp_ = (chain_kp + 15) / 16 * 16;  // 16-byte aligned code rows
      forget_pointers_ = true;
    }
    grow(chain_codes_, 2 * 3 * chain_kp_);
    grow(chain_scales_, 2 * 3);
    grow(chain_qsums_, 2 * 3);
    if (chain_kp_ > 0 && counter_.size() == 0) {
      counter_ = Buffer<int, memory_space>(1);
      memory_space::fill_zero(counter_.data(), sizeof(int));
    }
    point_at_scratch(out);
    if (forget_pointers_) {  // scratch moved: cached plans are re-pointed, their graphs rebuilt
      for (auto& p : programs_) {
        point_at_scratch(p->plan);
        p->graph.reset();
      }
    }
  }

  /// Points a plan's launches at the context's scratch (which only grows: every cached plan fits).
  void point_at_scratch(std::vector<Launch>& plan) {
    for (Launch& l : plan) {
      l.s.codes = codes_.data();
      l.s.scales = scales_.data();
      l.s.xbuf = xbuf_.data();
      l.s.staged_state = staged_.data();
      if (l.s.copy_dst.p != nullptr) l.s.copy_src.p = staged_.data();
      if (l.s.chained) {
        l.s.code_stride = chain_kp_;
        l.s.codes = chain_codes_.data() + l.s.slot * 3 * chain_kp_;
        l.s.scales = chain_scales_.data() + l.s.slot * 3;
        l.s.qsums = chain_qsums_.data() + l.s.slot * 3;
        l.s.counter = counter_.data();
      }
    }
  }

  /// Runs every launch of a plan.
  void dispatch_all(Launcher<Ex>& L, const std::vector<Launch>& plan) {
    for (std::size_t k = 0; k < plan.size(); ++k) dispatch(L, plan[k], k + 1 < plan.size() ? &plan[k + 1] : nullptr);
  }

  /// One launch; `next` is the launch after it (a chained GEMV quantises its input).
  void dispatch(Launcher<Ex>& L, const Launch& l, const Launch* next) {
    const auto* tops = static_cast<const TernaryOps<Ex>*>(l.s.ops);
    switch (l.kind) {
      case Launch::op: launch_op(L, l.o, l.s.xbuf); break;
      case Launch::gemv:
        if (l.s.chained) {
          const bool hand_off = next != nullptr && next->kind == Launch::gemv && next->s.chained;
          tops->gemv_chain(L, l.s, hand_off ? &next->s : nullptr);
        } else {
          tops->gemv(L, l.s);
        }
        break;
      case Launch::gprep: tops->gemv_prep(L, l.s); break;
      case Launch::gemm: tops->gemm(L, l.s); break;
      case Launch::prep:
        if (l.s.R > 0)
          L("mmfree::BitLinear::prepare", team_policy(L.ex, int(l.s.R)), PrepFunctor<Ex>{l.s});
        break;
      case Launch::copy: {
        const Mat& d = l.s.copy_dst;
        if (d.rows * d.cols > 0)
          L("mmfree::MLGRU::state", ::Kokkos::RangePolicy<Ex>(L.ex, 0, d.rows * d.cols),
            CopyFunctor{l.s.copy_src, d});
        break;
      }
    }
  }

  /// Teams of the row kernels, with scratch for their reductions.
  static ::Kokkos::TeamPolicy<Ex> team_policy(const Ex& ex, int league) {
    return ::Kokkos::TeamPolicy<Ex>(ex, league, team_threads<Ex>)
        .set_scratch_size(0, ::Kokkos::PerTeam(TeamReducer<Ex>::scratch_bytes));
  }

  /// An unfused hook; `scratch` is the plan's f32 scratch (the scan's gates).
  void launch_op(Launcher<Ex>& L, const Op& o, float* scratch) {
    using Range = ::Kokkos::RangePolicy<Ex>;
    switch (o.kind) {
      case OpKind::embed:
        if (o.c.rows * o.c.cols > 0)
          L("mmfree::embed", Range(L.ex, 0, o.c.rows * o.c.cols), EmbedFunctor{o.c, o.table.data, o.table.dtype, o.ids});
        break;
      case OpKind::rmsnorm:
        if (o.a.rows > 0) L("mmfree::RMSNorm", team_policy(L.ex, int(o.a.rows)), RMSNormFunctor<Ex>{o.a, o.c, o.w, o.eps});
        break;
      case OpKind::add:
        if (o.a.rows * o.a.cols > 0) L("mmfree::add", Range(L.ex, 0, o.a.rows * o.a.cols), AddFunctor{o.a, o.b});
        break;
      case OpKind::scan:
        // the gates of every step in parallel (f' into scratch, c over i), then the sequential
        // fmaf chain per (sequence, channel)
        if (o.batch * o.T * o.a.cols > 0) {
          const index_t H = o.a.cols, R = o.batch * o.T;
          L("mmfree::MLGRU::gates", Range(L.ex, 0, R * H), ScanGatesFunctor{o.a, o.b, o.w, scratch});
          L("mmfree::MLGRU::scan", Range(L.ex, 0, o.batch * H),
            ScanChainFunctor{o.a, Mat(MatrixView<float>(scratch, R, H)), o.c, o.T});
        }
        break;
      case OpKind::gated_norm:
        if (o.a.rows > 0)
          L("mmfree::MLGRU::gated_norm", team_policy(L.ex, int(o.a.rows)),
            GatedNormFunctor<Ex>{o.a, o.b, o.c, o.w, o.eps});
        break;
      case OpKind::glu:
        if (o.c.rows * o.c.cols > 0) L("mmfree::GLU", Range(L.ex, 0, o.c.rows * o.c.cols), GluFunctor{o.a, o.c});
        break;
      case OpKind::bitlinear: break;  // always planned as a stage
    }
  }

  Ex ex_;
  Options opt_;
  ContextStats stats_;
  LaunchProfile profile_;
  bool recording_ = false;
  bool forget_pointers_ = false;
  std::vector<Op> ops_, one_op_;
  std::vector<Launch> one_plan_;
  std::vector<std::unique_ptr<Program>> programs_;  // stable addresses: plan() holds a reference
  long uses_ = 0;
  Buffer<std::int8_t, memory_space> codes_;
  Buffer<float, memory_space> scales_, xbuf_, staged_;
  // GEMV chain: two slots of codes (3 BitLinears x chain_kp_ each), scales and code sums, and
  // the count of finished teams (zero between launches)
  index_t chain_kp_ = 0;
  Buffer<std::int8_t, memory_space> chain_codes_;
  Buffer<float, memory_space> chain_scales_;
  Buffer<std::int32_t, memory_space> chain_qsums_;
  Buffer<int, memory_space> counter_;
};

}  // namespace kk

namespace backend {

/// \brief mmfree on a Kokkos execution space (default: Kokkos' default space).
///
/// Weights, states and scratch live in ExecutionSpace's memory space; kernels are Kokkos
/// parallel_for launches (kernels.hpp); a decode step is one graph replay after the first two.
/// Kokkos must be initialised before any object of this backend is created and finalised after
/// the last is destroyed. Implements act::Int8 with packings I8, I2 and TQ1.
template <class ExecutionSpace = ::Kokkos::DefaultExecutionSpace>
struct Kokkos {
  using execution_space = ExecutionSpace;
  static constexpr std::string_view name() { return "kokkos"; }
  using memory_space = kk::MemorySpace<ExecutionSpace>;
  using context_type = kk::Context<ExecutionSpace>;
};

}  // namespace backend
MMFREE_NAMESPACE_END
