// SPDX-License-Identifier: MIT
// Writes random hgrn_bit checkpoints (any shape, dtype, sharding) for tests of odd sizes and of
// every error path. Deterministic on every platform (splitmix64).
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <mmfree/mmfree.hpp>

namespace mmfree_test {

struct Rng {
  std::uint64_t s;
  explicit Rng(std::uint64_t seed) : s(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  /// uniform in [-1, 1)
  float uniform() { return float(double(next() >> 11) * (2.0 / 9007199254740992.0) - 1.0); }
};

/// Tensors of a random checkpoint, kept alive with their bytes.
struct RandomTensors {
  std::vector<std::vector<std::uint8_t>> bytes;
  std::vector<mmfree::io::TensorToWrite> tensors;
};

/// Random latent weights of `cfg` stored as `dt`; with `round_to` = BF16 or F16 every value is first
/// rounded to that type, so checkpoints stored in different types hold identical numbers.
inline RandomTensors random_tensors(const mmfree::ModelConfig& cfg, mmfree::DType dt, std::uint64_t seed,
                                    mmfree::DType round_to = mmfree::DType::F32) {
  RandomTensors r;
  Rng rng(seed);
  for (const auto& p : mmfree::io::hf_parameters(cfg)) {
    mmfree::index_t n = 1;
    for (auto d : p.shape) n *= d;
    const bool is_norm = p.name.find("norm") != std::string::npos;
    std::vector<std::uint8_t> b(std::size_t(n) * std::size_t(mmfree::dtype_size(dt)));
    for (mmfree::index_t i = 0; i < n; ++i) {
      float v = is_norm ? 1.0f + 0.25f * rng.uniform()
                        : rng.uniform() * (p.name.find("embeddings") != std::string::npos ? 1.0f : 0.05f);
      if (round_to == mmfree::DType::BF16) v = mmfree::bf16_to_f32(mmfree::f32_to_bf16(v));
      if (round_to == mmfree::DType::F16) v = mmfree::f16_to_f32(mmfree::f32_to_f16(v));
      if (dt == mmfree::DType::F32) {
        std::memcpy(b.data() + 4 * i, &v, 4);
      } else {
        const std::uint16_t h = dt == mmfree::DType::BF16 ? mmfree::f32_to_bf16(v) : mmfree::f32_to_f16(v);
        std::memcpy(b.data() + 2 * i, &h, 2);
      }
    }
    r.bytes.push_back(std::move(b));
    r.tensors.push_back({p.name, dt, p.shape, nullptr, mmfree::index_t(r.bytes.back().size())});
  }
  for (std::size_t i = 0; i < r.tensors.size(); ++i) r.tensors[i].data = r.bytes[i].data();
  return r;
}

/// A small config with deliberately odd sizes.
inline mmfree::ModelConfig odd_config(mmfree::index_t V = 97, mmfree::index_t H = 40, mmfree::index_t L = 3,
                                      mmfree::index_t I = 72) {
  mmfree::ModelConfig c;
  c.vocab_size = V;
  c.hidden_size = H;
  c.num_layers = L;
  c.intermediate_size = I;
  return c;
}

/// A fresh directory under the system temp dir, removed when the object dies.
struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& tag) {
    static int counter = 0;
    path = std::filesystem::temp_directory_path() /
           ("mmfree-test-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

/// Writes a random checkpoint of `cfg` into `dir`.
inline void write_random_checkpoint(const std::filesystem::path& dir, const mmfree::ModelConfig& cfg,
                                    mmfree::DType dt = mmfree::DType::F32, int shards = 1, std::uint64_t seed = 7,
                                    mmfree::DType round_to = mmfree::DType::F32) {
  auto r = random_tensors(cfg, dt, seed, round_to);
  mmfree::io::write_checkpoint(dir, cfg, r.tensors, shards);
}

}  // namespace mmfree_test
