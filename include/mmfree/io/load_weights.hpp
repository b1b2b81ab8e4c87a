// SPDX-License-Identifier: MIT
// One entry point for "a model path": a Hugging Face checkpoint directory or a packed .mmfree file.
#pragma once

#include <filesystem>
#include <string>

#include "../core/concepts.hpp"
#include "../core/error.hpp"
#include "checkpoint.hpp"
#include "model_file.hpp"

MMFREE_NAMESPACE_BEGIN
namespace io {

/// \brief Weights packed with P from `path`: a checkpoint directory (config.json +
/// safetensors, packed now) or a packed model file (mapped; repacked if it holds another
/// packing). Throws mmfree::Error naming the path when it is neither.
template <WeightPacking P>
HostWeights load_weights(const std::filesystem::path& path, ModelFileOptions opt = {}, const ProgressFn& progress = {}) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return load_checkpoint<P>(path, progress);
  if (!std::filesystem::exists(path, ec)) throw Error("model '" + path.string() + "' does not exist");
  if (!is_model_file(path))
    throw Error("'" + path.string() + "' is neither a checkpoint directory nor an mmfree model file");
  return load_model_file<P>(path, opt);
}

}  // namespace io

using io::load_weights;

MMFREE_NAMESPACE_END
