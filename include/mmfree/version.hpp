// SPDX-License-Identifier: MIT
// Library version; CMake parses these three lines.
#pragma once

#define MMFREE_VERSION_MAJOR 0
#define MMFREE_VERSION_MINOR 1
#define MMFREE_VERSION_PATCH 0
