// SPDX-License-Identifier: MIT
// Umbrella header of the training component (link mmfree::train: needs Eigen 3.4 and nlohmann/json).
#pragma once

#include "train/parallel.hpp"
#include "train/gemm.hpp"
#include "train/params.hpp"
#include "train/network.hpp"
#include "train/optimizer.hpp"
#include "train/data.hpp"
#include "train/checkpoint.hpp"
#include "train/trainer.hpp"
