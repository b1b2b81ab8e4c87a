// SPDX-License-Identifier: MIT
// libFuzzer target: a safetensors image (header JSON, offsets, shapes) must parse or throw mmfree::Error.
#include <cstddef>
#include <cstdint>

#include <mmfree/io/safetensors.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    auto st = mmfree::io::SafetensorsFile::from_memory(nullptr, data, size, "fuzz.safetensors");
    for (const auto& t : st.tensors())  // every accepted tensor must be readable end to end
      if (t.numel() > 0) (void)t.at(t.numel() - 1);
  } catch (const mmfree::Error&) {
  }
  return 0;
}
