// SPDX-License-Identifier: MIT
// libFuzzer target: the packed model file. The first byte picks what the rest is:
//   0: a whole file (written to disk, read with checksums)   1: a header   2: a serialized index.
// Everything must load or throw mmfree::Error; an index that loads must bind to a Model that runs.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <mmfree/mmfree.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t mode = data[0] % 3;
  ++data, --size;
  try {
    if (mode == 0) {
      static const std::filesystem::path p = [] {
        auto q = std::filesystem::temp_directory_path() / ("mmfree-fuzz-" + std::to_string(::getpid()) + ".mmfree");
        static const std::filesystem::path keep = q;
        std::atexit([] { std::error_code ec; std::filesystem::remove(keep, ec); });
        return q;
      }();
      {
        std::ofstream out(p, std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char*>(data), std::streamsize(size));
      }
      (void)mmfree::io::read_model_file(p);
    } else if (mode == 1) {
      (void)mmfree::io::read_model_file_header(data, size, "fuzz.mmfree");
    } else {
      mmfree::HostWeights w;
      w.index = mmfree::io::detail::read_index(data, size, "fuzz.mmfree");
      if (w.index.arena_bytes > (mmfree::index_t(8) << 20)) return 0;  // valid but too big to run here
      std::vector<std::uint8_t> arena(std::size_t(w.index.arena_bytes) + 64, 0);
      auto* base = reinterpret_cast<std::uint8_t*>((reinterpret_cast<std::uintptr_t>(arena.data()) + 63) / 64 * 64);
      w.arena.base = base;
      w.arena.bytes = w.index.arena_bytes;
      mmfree::packing::with_packing(w.index.packing, [&]<class P>(P) {
        using Pol = mmfree::Policy<P, mmfree::act::Int8, mmfree::backend::Serial>;
        mmfree::Model<Pol> m(std::move(w));
        auto ws = m.make_workspace({.max_batch = 1, .max_chunk = 1, .all_logits = false});
        auto st = m.make_state(1);
        std::vector<float> logits(std::size_t(m.config().vocab_size));
        const std::int32_t id = 0;
        m.step(ws, st, {&id, 1}, logits);
      });
    }
  } catch (const mmfree::Error&) {
  }
  return 0;
}
