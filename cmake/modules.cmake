# autoglm_module(NAME [DIR dir] [DEPS ...] [PRIVATE_DEPS ...] [WHOLE_ARCHIVE])
#
# Builds src/<DIR or NAME>/ (recursively, minus nested modules) as the static library autoglm::NAME. Its
# headers are reachable as "<DIR>/file.h" only by targets that link it: the include root of each module is a
# private folder under the build tree holding one link to the module's sources. A module that registers
# itself through static objects (kernels, architectures) is linked WHOLE_ARCHIVE so the linker keeps them.
set(AUTOGLM_MODULE_INCLUDE_ROOT ${CMAKE_BINARY_DIR}/module_include)
set(AUTOGLM_NESTED_MODULE_DIRS backend/cpu backend/cuda parallel/nccl)

function(autoglm_module name)
  cmake_parse_arguments(M "WHOLE_ARCHIVE" "DIR" "DEPS;PRIVATE_DEPS" ${ARGN})
  if(NOT M_DIR)
    set(M_DIR ${name})
  endif()
  set(src_dir ${PROJECT_SOURCE_DIR}/src/${M_DIR})
  file(GLOB_RECURSE sources CONFIGURE_DEPENDS ${src_dir}/*.cpp ${src_dir}/*.cu)
  foreach(nested ${AUTOGLM_NESTED_MODULE_DIRS})
    if(NOT nested STREQUAL M_DIR)
      list(FILTER sources EXCLUDE REGEX "^${PROJECT_SOURCE_DIR}/src/${nested}/")
    endif()
  endforeach()

  # The link mirrors the top folder of DIR, so "backend/cpu/x.h" resolves through the "backend" link.
  string(REGEX REPLACE "/.*" "" top ${M_DIR})
  set(inc ${AUTOGLM_MODULE_INCLUDE_ROOT}/${name})
  file(MAKE_DIRECTORY ${inc})
  if(NOT EXISTS ${inc}/${top})
    file(CREATE_LINK ${PROJECT_SOURCE_DIR}/src/${top} ${inc}/${top} SYMBOLIC)
  endif()

  if(NOT sources)  # a header-only module
    add_library(autoglm_${name} INTERFACE)
    target_include_directories(autoglm_${name} INTERFACE ${inc})
    target_link_libraries(autoglm_${name} INTERFACE ${M_DEPS} ${M_PRIVATE_DEPS})
    add_library(autoglm::${name} ALIAS autoglm_${name})
    return()
  endif()
  add_library(autoglm_${name} STATIC ${sources})
  target_include_directories(autoglm_${name} PUBLIC ${inc})
  target_link_libraries(autoglm_${name} PUBLIC ${M_DEPS} PRIVATE ${M_PRIVATE_DEPS})
  if(M_WHOLE_ARCHIVE)
    add_library(autoglm::${name} INTERFACE IMPORTED GLOBAL)
    target_link_libraries(autoglm::${name} INTERFACE "$<LINK_LIBRARY:WHOLE_ARCHIVE,autoglm_${name}>")
  else()
    add_library(autoglm::${name} ALIAS autoglm_${name})
  endif()
endfunction()
