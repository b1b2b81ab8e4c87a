// SPDX-License-Identifier: MIT
// mmfree: command-line front end of the library (info, logits, generate, convert, tokenize, ...).
#include <cstdio>
#include <exception>

#include "common.hpp"

int main(int argc, char** argv) {
#if MMFREE_HAS_KOKKOS
  mmfree_cli::KokkosRuntime kokkos_runtime;  // finalises Kokkos (if a command started it) last
#endif
  CLI::App app{"mmfree: MatMul-free language models on ternary kernels"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::to_string(MMFREE_VERSION_MAJOR) + "." + std::to_string(MMFREE_VERSION_MINOR) +
                                        "." + std::to_string(MMFREE_VERSION_PATCH));
  mmfree_cli::register_info(app);
  mmfree_cli::register_logits(app);
  mmfree_cli::register_generate(app);
  mmfree_cli::register_convert(app);
  mmfree_cli::register_tokenize(app);
#if MMFREE_CLI_TRAIN
  mmfree_cli::register_train(app);
#endif
  mmfree_cli::register_bench(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
