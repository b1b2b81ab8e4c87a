// SPDX-License-Identifier: MIT
// The three policy axes (weight packing, activation precision, backend) as C++20 concepts.
#pragma once

#include <concepts>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include "types.hpp"

MMFREE_NAMESPACE_BEGIN

/// \brief How ternary weights are stored: a row of K weights is cut into blocks of `block_k`
/// weights stored in `block_bytes` bytes each.
template <class P>
concept WeightPacking = requires(const std::uint8_t* row, index_t k, const std::int8_t* t, std::uint8_t* out) {
  { P::name() } -> std::convertible_to<std::string_view>;
  { P::block_k } -> std::convertible_to<index_t>;
  { P::block_bytes } -> std::convertible_to<index_t>;
  { P::pack_row(t, k, out) };
  { P::decode(row, k) } -> std::same_as<int>;
};

/// \brief How activations enter the ternary product (integer codes or fake-quantised floats).
template <class A>
concept ActivationPolicy = requires {
  { A::name() } -> std::convertible_to<std::string_view>;
  typename A::code_type;
  typename A::accum_type;
  { A::integer_accumulation } -> std::convertible_to<bool>;
};

/// \brief Where and how kernels run. A backend names its memory space, the per-run context type
/// (threads, streams...) and whether host code can read its memory directly.
template <class B>
concept Backend = requires {
  { B::name() } -> std::convertible_to<std::string_view>;
  typename B::context_type;
  typename B::memory_space;
  { B::memory_space::host_accessible } -> std::convertible_to<bool>;
};

/// Weights a packing reserves for a row of k weights (k rounded up to whole blocks).
template <WeightPacking P>
constexpr index_t padded_cols(index_t k) {
  return (k + P::block_k - 1) / P::block_k * P::block_k;
}
/// Bytes a packing uses for a row of k weights.
template <WeightPacking P>
constexpr index_t packed_row_bytes(index_t k) {
  return (k + P::block_k - 1) / P::block_k * P::block_bytes;
}

/// \brief The three policies bundled; every layer and the model take one of these.
template <WeightPacking P, ActivationPolicy A, Backend B>
struct Policy {
  using packing = P;
  using activation = A;
  using backend = B;
};

/// True for instantiations of mmfree::Policy.
template <class T>
struct is_policy : std::false_type {};
template <class P, class A, class B>
struct is_policy<Policy<P, A, B>> : std::true_type {};
template <class T>
concept PolicyBundle = is_policy<T>::value;

/// Lets a static_assert depend on a template parameter (fires only when instantiated).
template <class...>
inline constexpr bool dependent_false = false;

MMFREE_NAMESPACE_END
