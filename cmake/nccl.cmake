# NCCL, for tensor parallelism over the GPUs of a host: the system's, or the one of the nvidia-nccl wheel
# (scripts/setup.sh installs it). Needs the CUDA backend. Sets AUTOGLM_WITH_NCCL and the target nccl::nccl.
set(AUTOGLM_WITH_NCCL OFF)
if(AUTOGLM_WITH_CUDA)
  execute_process(
    COMMAND python3 -c
            "import importlib.util as u; s = u.find_spec('nvidia.nccl'); print(list(s.submodule_search_locations)[0] if s else '')"
    OUTPUT_VARIABLE nccl_wheel OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  find_path(NCCL_INCLUDE_DIR nccl.h HINTS ${nccl_wheel}/include)
  find_library(NCCL_LIBRARY NAMES nccl libnccl.so.2 HINTS ${nccl_wheel}/lib)
  if(NCCL_INCLUDE_DIR AND NCCL_LIBRARY)
    set(AUTOGLM_WITH_NCCL ON)
    add_library(nccl::nccl SHARED IMPORTED)
    set_target_properties(nccl::nccl PROPERTIES IMPORTED_LOCATION ${NCCL_LIBRARY}
                                                INTERFACE_INCLUDE_DIRECTORIES ${NCCL_INCLUDE_DIR})
    message(STATUS "NCCL: ${NCCL_LIBRARY}")
  else()
    message(STATUS "NCCL: not found (tensor parallelism over GPUs off)")
  endif()
endif()
