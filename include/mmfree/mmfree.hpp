// SPDX-License-Identifier: MIT
// Umbrella header: the core, every policy, the layers, the model, and the optional pieces whose
// dependencies are visible (checkpoint loading needs nlohmann/json; backend::Kokkos needs the
// mmfree::kokkos target, which defines MMFREE_HAS_KOKKOS).
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
#include "model/state.hpp"
#include "model/weights.hpp"
#include "model/workspace.hpp"

#include "io/mapped_file.hpp"

#if MMFREE_HAS_KOKKOS
#include "backend/kokkos/kernels.hpp"
#endif

#if MMFREE_HAS_JSON
#include "io/checkpoint.hpp"
#include "io/hf_config.hpp"
#include "io/safetensors.hpp"
#endif
