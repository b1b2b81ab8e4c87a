// SPDX-License-Identifier: MIT
// Umbrella header: the core, every policy, the layers, the model, and the optional pieces whose
// dependencies are visible (checkpoint loading needs nlohmann/json; backend::Simd needs the
// mmfree::simd library, which defines MMFREE_HAS_SIMD; backend::Kokkos needs the mmfree::kokkos
// target, which defines MMFREE_HAS_KOKKOS).
#pragma once

#include "config.hpp"
#include "macros.hpp"
#include "version.hpp"

#include "core/buffer.hpp"
#include "core/concepts.hpp"
#include "core/error.hpp"
#include "core/math.hpp"
#include "core/model_config.hpp"
#include "core/numeric.hpp"
#include "core/quantize.hpp"
#include "core/types.hpp"

#include "packing/i2.hpp"
#include "packing/i8.hpp"
#include "packing/registry.hpp"
#include "packing/tq1.hpp"

#include "activation/fake_quant.hpp"
#include "activation/int8.hpp"

#include "backend/kernels.hpp"
#include "backend/serial/backend.hpp"
#include "backend/serial/kernels.hpp"

#include "layers/bitlinear.hpp"
#include "layers/block.hpp"
#include "layers/glu.hpp"
#include "layers/mlgru.hpp"
#include "layers/rmsnorm.hpp"

#include "model/model.hpp"
#include "model/random_weights.hpp"
#include "model/repack.hpp"
#include "model/state.hpp"
#include "model/weights.hpp"
#include "model/workspace.hpp"

#include "io/mapped_file.hpp"
#include "io/model_file.hpp"
#include "io/xxhash.hpp"

#include "generate/sampler.hpp"
#include "generate/session.hpp"
#include "text/tokenizer.hpp"

#if MMFREE_HAS_SIMD
#include "backend/simd/simd.hpp"
#endif

#if MMFREE_HAS_KOKKOS
#include "backend/kokkos/kernels.hpp"
#endif

#if MMFREE_HAS_JSON
#include "io/checkpoint.hpp"
#include "io/hf_config.hpp"
#include "io/load_weights.hpp"
#include "io/safetensors.hpp"
#endif
