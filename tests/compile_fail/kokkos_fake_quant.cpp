// SPDX-License-Identifier: MIT
// Must NOT compile: backend::Kokkos implements act::Int8 only. The error must say so.
#include <mmfree/mmfree.hpp>

int main() {
  using Pol = mmfree::Policy<mmfree::packing::I2, mmfree::act::FakeQuant, mmfree::backend::Kokkos<>>;
  mmfree::BitLinear<Pol> layer;
  mmfree::Workspace<Pol>* ws = nullptr;
  float x[4] = {}, y[4] = {};
  layer.forward(ws->context(), mmfree::ConstMatrixView<float>(x, 1, 4), mmfree::MatrixView<float>(y, 1, 4),
                ws->act_scratch());
}
