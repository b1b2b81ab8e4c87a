// SPDX-License-Identifier: MIT
// backend::Simd in one include: the backend, its kernels and its BitLinear. Link mmfree::simd.
#pragma once

#include "backend.hpp"
#include "bitlinear.hpp"
#include "kernel_table.hpp"
#include "kernels.hpp"
#include "path.hpp"
#include "thread_pool.hpp"
