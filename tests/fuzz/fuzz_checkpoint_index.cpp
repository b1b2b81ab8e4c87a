// SPDX-License-Identifier: MIT
// libFuzzer target: model.safetensors.index.json of a sharded checkpoint. The input is written as
// the index beside a valid config.json and one valid shard; opening must succeed or throw
// mmfree::Error (never read outside the directory, never crash).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <mmfree/io/checkpoint.hpp>

namespace fs = std::filesystem;

static fs::path make_dir() {
  const fs::path d = fs::temp_directory_path() / ("mmfree-fuzz-index-" + std::to_string(::getpid()));
  fs::create_directories(d);
  static const fs::path keep = d;
  std::atexit([] { std::error_code ec; fs::remove_all(keep, ec); });
  mmfree::ModelConfig c;
  c.vocab_size = 8, c.hidden_size = 4, c.num_layers = 1, c.intermediate_size = 4;
  std::ofstream(d / "config.json") << mmfree::io::hf_config_json(c);
  const float w[4] = {1, 2, 3, 4};
  mmfree::io::write_safetensors(d / "model-00001-of-00001.safetensors",
                                {{"model.norm.weight", mmfree::DType::F32, {4}, w, 16}});
  return d;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const fs::path dir = make_dir();
  {
    std::ofstream out(dir / "model.safetensors.index.json", std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), std::streamsize(size));
  }
  try {
    auto ck = mmfree::io::Checkpoint::open(dir);
    (void)ck.find("model.norm.weight");
  } catch (const mmfree::Error&) {
  }
  return 0;
}
