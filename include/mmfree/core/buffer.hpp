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

#include "error.hpp"
#include "types.hpp"

MMFREE_NAMESPACE_BEGIN

/// \brief Ordinary host memory, 64-byte aligned (one cache line, one AVX-512 vector).
struct HostSpace {
  static constexpr bool host_accessible = true;
  static constexpr std::string_view name() { return "host"; }
  static constexpr std::size_t alignment = 64;

  static void* allocate(std::size_t bytes) {
    if (bytes == 0) return nullptr;
    const std::size_t rounded = (bytes + alignment - 1) / alignment * alignment;
    void* p = ::operator new(rounded, std::align_val_t(alignment), std::nothrow);
    if (p == nullptr) throw Error("out of host memory allocating " + std::to_string(bytes) + " bytes");
    return p;
  }
  static void deallocate(void* p) noexcept {
    if (p != nullptr) ::operator delete(p, std::align_val_t(alignment));
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
