// SPDX-License-Identifier: MIT
// Must NOT compile: `int` is not a weight packing; the error names the WeightPacking concept.
#include <mmfree/mmfree.hpp>

int main() {
  using Pol = mmfree::Policy<int, mmfree::act::Int8, mmfree::backend::Serial>;
  return sizeof(Pol);
}
