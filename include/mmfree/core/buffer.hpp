// SPDX-License-Identifier: MIT
// Owning, fixed-size arrays in a backend's memory space. Allocated once (load time, workspace
// creation); never resized, so nothing on the hot path allocates.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <string_view>
#include <utility>

#if defined(_WIN32)
#include <malloc.h>
#elif defined(__linux__)
#include <sys/mman.h>
#endif

#include "error.hpp"
#include "types.hpp"

MMFREE_NAMESPACE_BEGIN

/// \brief Ordinary host memory, 64-byte aligned (one cache line, one AVX-512 vector).
///
/// Allocations of at least `huge_page` bytes (weight arenas, large workspaces) are aligned to
/// 2 MiB and, on Linux, advised for transparent huge pages (MADV_HUGEPAGE; honoured when
/// /sys/kernel/mm/transparent_hugepage/enabled is "always" or "madvise"). Streaming weights
/// through 4 KiB pages costs a large part of the read bandwidth: the hardware prefetchers stop at
/// every page boundary and every page needs a TLB entry (docs/simd.md, bench/README.md).
struct HostSpace {
  static constexpr bool host_accessible = true;
  static constexpr std::string_view name() { return "host"; }
  static constexpr std::size_t alignment = 64;
  /// Allocations of this size or more are 2 MiB aligned (and advised for huge pages on Linux).
  static constexpr std::size_t huge_page = std::size_t(2) << 20;

  static void* allocate(std::size_t bytes) {
    if (bytes == 0) return nullptr;
    const std::size_t align = bytes >= huge_page ? huge_page : alignment;
    const std::size_t rounded = (bytes + align - 1) / align * align;
    void* p = nullptr;
#if defined(_WIN32)
    p = ::_aligned_malloc(rounded, align);
#else
    if (::posix_memalign(&p, align, rounded) != 0) p = nullptr;
#endif
    if (p == nullptr) throw Error("out of host memory allocating " + std::to_string(bytes) + " bytes");
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (align == huge_page) (void)::madvise(p, rounded, MADV_HUGEPAGE);  // advice: failing is harmless
#endif
    return p;
  }
  static void deallocate(void* p) noexcept {
#if defined(_WIN32)
    ::_aligned_free(p);
#else
    std::free(p);
#endif
  }
  static void copy_from_host(void* dst, const void* src, std::size_t bytes) {
    if (bytes) std::memcpy(dst, src, bytes);
  }
  static void copy_to_host(void* dst, const void* src, std::size_t bytes) {
    if (bytes) std::memcpy(dst, src, bytes);
  }
  static void fill_zero(void* dst, std::size_t bytes) {
    if (bytes) std::memset(dst, 0, bytes);
  }
};

/// \brief A fixed-size array of `T` in memory space `Space`; move-only.
template <class T, class Space>
class Buffer {
 public:
  Buffer() = default;
  /// Allocates `n` zero-filled elements.
  explicit Buffer(index_t n) : n_(n) {
    check(n >= 0, "negative buffer size");
    ptr_ = static_cast<T*>(Space::allocate(std::size_t(n) * sizeof(T)));
    Space::fill_zero(ptr_, std::size_t(n) * sizeof(T));
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  Buffer(Buffer&& o) noexcept : ptr_(std::exchange(o.ptr_, nullptr)), n_(std::exchange(o.n_, 0)) {}
  Buffer& operator=(Buffer&& o) noexcept {
    if (this != &o) {
      Space::deallocate(ptr_);
      ptr_ = std::exchange(o.ptr_, nullptr);
      n_ = std::exchange(o.n_, 0);
    }
    return *this;
  }
  ~Buffer() { Space::deallocate(ptr_); }

  T* data() const { return ptr_; }
  index_t size() const { return n_; }
  std::size_t bytes() const { return std::size_t(n_) * sizeof(T); }
  /// The first rows*cols elements as a row-major matrix.
  MatrixView<T> matrix(index_t rows, index_t cols) const {
    check(rows * cols <= n_, "buffer too small for the requested matrix view");
    return MatrixView<T>(ptr_, rows, cols);
  }

 private:
  T* ptr_ = nullptr;
  index_t n_ = 0;
};

MMFREE_NAMESPACE_END
