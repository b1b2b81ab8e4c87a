# SPDX-License-Identifier: MIT
# Finds Kokkos for mmfree::kokkos and repairs the imported target where a distribution broke it.
# Included by the build and, installed next to mmfreeConfig.cmake, by find_package(mmfree).

# Debian's Kokkos (3.4, inside Trilinos 13.2) computes its include directory three levels above
# its CMake folder: /usr/lib/include, which does not exist (the headers are in
# /usr/include/trilinos, which its own Kokkos_INCLUDE_DIRS names). CMake refuses imported targets
# with missing include directories, so point the target at the directories that exist.
function(mmfree_repair_kokkos_target)
  if(NOT TARGET Kokkos::kokkos)
    return()
  endif()
  get_target_property(_aliased Kokkos::kokkos ALIASED_TARGET)
  if(_aliased)
    return()
  endif()
  get_target_property(_inc Kokkos::kokkos INTERFACE_INCLUDE_DIRECTORIES)
  if(NOT _inc)
    return()
  endif()
  set(_fixed)
  set(_changed FALSE)
  foreach(_d IN LISTS _inc)
    if(_d MATCHES "^\\$<" OR EXISTS "${_d}")
      list(APPEND _fixed "${_d}")
    else()
      set(_changed TRUE)
    endif()
  endforeach()
  if(_changed)
    foreach(_d IN LISTS Kokkos_INCLUDE_DIRS)
      get_filename_component(_d "${_d}" ABSOLUTE)
      if(EXISTS "${_d}/Kokkos_Core.hpp")
        list(APPEND _fixed "${_d}")
      endif()
    endforeach()
    list(REMOVE_DUPLICATES _fixed)
    set_target_properties(Kokkos::kokkos PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${_fixed}")
    message(STATUS "mmfree: repaired Kokkos::kokkos include directories: ${_fixed}")
  endif()
  # The same package lists a compile definition among its link libraries; harmless, but keep the
  # link line clean.
  get_target_property(_libs Kokkos::kokkos INTERFACE_LINK_LIBRARIES)
  if(_libs AND "-DKOKKOS_DEPENDENCE" IN_LIST _libs)
    list(REMOVE_ITEM _libs "-DKOKKOS_DEPENDENCE")
    set_target_properties(Kokkos::kokkos PROPERTIES INTERFACE_LINK_LIBRARIES "${_libs}")
  endif()
endfunction()
