// SPDX-License-Identifier: MIT
// Must NOT compile: a backend that provides no BitLinear kernel. The build error must name it.
#include <mmfree/mmfree.hpp>

struct BareBackend {
  static constexpr std::string_view name() { return "bare"; }
  using memory_space = mmfree::HostSpace;
  struct context_type {};
};

int main() {
  using Pol = mmfree::Policy<mmfree::packing::I2, mmfree::act::Int8, BareBackend>;
  mmfree::BitLinear<Pol> layer;
  mmfree::Workspace<Pol>* ws = nullptr;
  float x[4] = {}, y[4] = {};
  layer.forward(ws->context(), mmfree::ConstMatrixView<float>(x, 1, 4), mmfree::MatrixView<float>(y, 1, 4),
                ws->act_scratch());
}
