// SPDX-License-Identifier: MIT
// libFuzzer target: config.json text must parse to a valid ModelConfig or throw mmfree::Error.
#include <cstddef>
#include <cstdint>
#include <string>

#include <mmfree/io/hf_config.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const auto c = mmfree::io::parse_hf_config(std::string(reinterpret_cast<const char*>(data), size), "config.json");
    c.validate();  // what the parser returns is valid
  } catch (const mmfree::Error&) {
  }
  return 0;
}
