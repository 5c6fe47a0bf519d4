# What plait::plait needs from the system, as imported targets plait::deps_*.
# Included by plait's own CMakeLists.txt and by the installed plaitConfig.cmake.
include(CMakeFindDependencyMacro)

find_dependency(Threads)
find_package(OpenMP QUIET COMPONENTS CXX)
find_package(ZLIB QUIET)
find_package(nlohmann_json 3.10 QUIET)  # checkpoints' safetensors headers (io/safetensors.hpp)

# CBLAS from OpenBLAS (Debian: libopenblas-dev): float32 and float64 matrix products on the host.
find_library(PLAIT_OPENBLAS_LIBRARY NAMES openblas)
find_path(PLAIT_CBLAS_INCLUDE_DIR NAMES cblas.h PATH_SUFFIXES openblas)
# A prefix unpacked from Debian's .deb files (dpkg -x, scripts/gpu_check.sh --deps) has no alternatives
# (/usr/lib/<arch>/libopenblas.so, /usr/include/<arch>/cblas.h): the pthread flavour's own directories.
if(NOT PLAIT_OPENBLAS_LIBRARY)
  find_library(PLAIT_OPENBLAS_LIBRARY NAMES openblas PATH_SUFFIXES openblas-pthread)
endif()
if(NOT PLAIT_CBLAS_INCLUDE_DIR)
  find_path(PLAIT_CBLAS_INCLUDE_DIR NAMES cblas.h PATH_SUFFIXES openblas-pthread)
endif()
# oneDNN (Debian: libdnnl-dev): the host backend's convolutions and bf16 matrix products. Looked for as a
# library and a header rather than through its CMake package, whose Debian build also asks for OpenCL.
find_library(PLAIT_DNNL_LIBRARY NAMES dnnl)
find_path(PLAIT_DNNL_INCLUDE_DIR NAMES oneapi/dnnl/dnnl.hpp)
# Thrust and CUB: the CUDA toolkit's CCCL, else Debian's libthrust-dev.
find_path(PLAIT_THRUST_INCLUDE_DIR NAMES thrust/version.h
  HINTS ENV CUDA_HOME ENV CUDA_PATH /usr/local/cuda
  PATH_SUFFIXES include/cccl targets/x86_64-linux/include/cccl include)

set(_plait_missing "")
if(NOT PLAIT_OPENBLAS_LIBRARY OR NOT PLAIT_CBLAS_INCLUDE_DIR)
  list(APPEND _plait_missing "OpenBLAS (Debian: libopenblas-dev)")
endif()
if(NOT PLAIT_DNNL_LIBRARY OR NOT PLAIT_DNNL_INCLUDE_DIR)
  list(APPEND _plait_missing "oneDNN (Debian: libdnnl-dev)")
endif()
if(NOT PLAIT_THRUST_INCLUDE_DIR)
  list(APPEND _plait_missing "Thrust (the CUDA toolkit, or Debian: libthrust-dev)")
endif()
if(NOT OpenMP_CXX_FOUND)
  list(APPEND _plait_missing "OpenMP for C++ (g++ ships it)")
endif()
if(NOT ZLIB_FOUND)
  list(APPEND _plait_missing "zlib (Debian: zlib1g-dev)")
endif()
if(NOT nlohmann_json_FOUND)
  list(APPEND _plait_missing "nlohmann_json (Debian: nlohmann-json3-dev)")
endif()
if(_plait_missing)
  message(FATAL_ERROR "plait: required libraries are missing: ${_plait_missing}. plait::plait needs them for its host backend. Fix: run scripts/setup.sh, or install them and set CMAKE_PREFIX_PATH.")
endif()

if(NOT TARGET plait::deps_blas)
  add_library(plait::deps_blas INTERFACE IMPORTED)
  set_target_properties(plait::deps_blas PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${PLAIT_CBLAS_INCLUDE_DIR}"
    INTERFACE_LINK_LIBRARIES "${PLAIT_OPENBLAS_LIBRARY}")
  add_library(plait::deps_dnnl INTERFACE IMPORTED)
  set_target_properties(plait::deps_dnnl PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${PLAIT_DNNL_INCLUDE_DIR}"
    INTERFACE_LINK_LIBRARIES "${PLAIT_DNNL_LIBRARY}")
  add_library(plait::deps_thrust INTERFACE IMPORTED)
  # A system include directory: Thrust's own warnings are not the user's.
  set_target_properties(plait::deps_thrust PROPERTIES
    INTERFACE_SYSTEM_INCLUDE_DIRECTORIES "${PLAIT_THRUST_INCLUDE_DIR}"
    INTERFACE_INCLUDE_DIRECTORIES "${PLAIT_THRUST_INCLUDE_DIR}")
  add_library(plait::deps_openmp INTERFACE IMPORTED)
  set_target_properties(plait::deps_openmp PROPERTIES INTERFACE_LINK_LIBRARIES OpenMP::OpenMP_CXX)
  add_library(plait::deps_zlib INTERFACE IMPORTED)
  set_target_properties(plait::deps_zlib PROPERTIES INTERFACE_LINK_LIBRARIES ZLIB::ZLIB)
  add_library(plait::deps_json INTERFACE IMPORTED)
  set_target_properties(plait::deps_json PROPERTIES INTERFACE_LINK_LIBRARIES nlohmann_json::nlohmann_json)
endif()

# Optional: MPI for plait::mpi (Debian: libopenmpi-dev). Found quietly; when it is absent plait::plait is
# unaffected and plait::mpi does not exist. plait uses MPI's C API only, so the deprecated C++ bindings
# (libmpi_cxx) are skipped. The C++ compiler must be enabled for FindMPI's CXX component.
get_property(_plait_languages GLOBAL PROPERTY ENABLED_LANGUAGES)
if("CXX" IN_LIST _plait_languages AND NOT TARGET plait::deps_mpi)
  if(NOT DEFINED MPI_CXX_SKIP_MPICXX)  # a project that wants the bindings for itself has set it already
    set(MPI_CXX_SKIP_MPICXX TRUE)
  endif()
  find_package(MPI QUIET COMPONENTS CXX)
  if(MPI_CXX_FOUND)
    add_library(plait::deps_mpi INTERFACE IMPORTED)
    set_target_properties(plait::deps_mpi PROPERTIES INTERFACE_LINK_LIBRARIES MPI::MPI_CXX)
  endif()
endif()

# Optional: NCCL and the CUDA runtime for plait::nccl. Found quietly; when either is absent plait::nccl does
# not exist. NCCL is looked for beside the CUDA toolkit (the toolkit's lib/ or lib64/, as NVIDIA's packages
# install it), under NCCL_HOME / NCCL_ROOT, and in the system's paths; plait::nccl uses ncclCommSplit and
# non-blocking communicators, so NCCL 2.18 or newer.
if(NOT TARGET plait::deps_nccl)
  find_package(CUDAToolkit QUIET)
  find_path(PLAIT_NCCL_INCLUDE_DIR NAMES nccl.h
    HINTS ENV NCCL_HOME ENV NCCL_ROOT ${CUDAToolkit_INCLUDE_DIRS}
    PATH_SUFFIXES include)
  find_library(PLAIT_NCCL_LIBRARY NAMES nccl libnccl.so.2
    HINTS ENV NCCL_HOME ENV NCCL_ROOT ${CUDAToolkit_LIBRARY_ROOT} ${CUDAToolkit_LIBRARY_DIR}
    PATH_SUFFIXES lib lib64 lib/x86_64-linux-gnu)
  set(PLAIT_NCCL_VERSION "")
  if(PLAIT_NCCL_INCLUDE_DIR)
    file(STRINGS "${PLAIT_NCCL_INCLUDE_DIR}/nccl.h" _plait_nccl_version REGEX "^#define NCCL_(MAJOR|MINOR|PATCH) +[0-9]+")
    string(REGEX REPLACE ".*NCCL_MAJOR +([0-9]+).*NCCL_MINOR +([0-9]+).*NCCL_PATCH +([0-9]+).*" "\\1.\\2.\\3"
           PLAIT_NCCL_VERSION "${_plait_nccl_version}")
  endif()
  if(CUDAToolkit_FOUND AND PLAIT_NCCL_INCLUDE_DIR AND PLAIT_NCCL_LIBRARY AND PLAIT_NCCL_VERSION VERSION_GREATER_EQUAL 2.18)
    add_library(plait::deps_nccl INTERFACE IMPORTED)
    set_target_properties(plait::deps_nccl PROPERTIES
      INTERFACE_INCLUDE_DIRECTORIES "${PLAIT_NCCL_INCLUDE_DIR}"
      INTERFACE_LINK_LIBRARIES "${PLAIT_NCCL_LIBRARY};CUDA::cudart")
  endif()
endif()
