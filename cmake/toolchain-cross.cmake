# Cross-build for ARM with Debian's cross compilers and the multiarch
# libraries of the target architecture (see docs/cross.md; tools/cross.sh
# installs them, builds and tests). One file for every target: give the Debian
# architecture as YW_ARCH (arm64 or armhf):
#   cmake -S . -B build-arm64 -DYW_ARCH=arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-cross.cmake
#
# No sysroot: with multiarch the :ARCH libraries sit in /usr/lib/TRIPLET beside
# the native ones and share /usr/include, and Debian's cross gcc searches
# those directories itself. find_library() searches lib/TRIPLET because CMake
# takes CMAKE_LIBRARY_ARCHITECTURE from the compiler; nothing finds the amd64
# libraries in lib/x86_64-linux-gnu.
if(NOT YW_ARCH)
  set(YW_ARCH "$ENV{YW_ARCH}")
endif()
# try_compile projects read this file again: hand them YW_ARCH.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES YW_ARCH)
if(YW_ARCH STREQUAL "arm64")
  set(yw_triplet aarch64-linux-gnu)
  set(yw_processor aarch64)
  set(yw_qemu qemu-aarch64)
elseif(YW_ARCH STREQUAL "armhf")
  set(yw_triplet arm-linux-gnueabihf)
  set(yw_processor arm)
  set(yw_qemu qemu-arm)
else()
  message(FATAL_ERROR "toolchain-cross.cmake: set YW_ARCH to arm64 or armhf (got '${YW_ARCH}')")
endif()

set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR ${yw_processor})
set(CMAKE_C_COMPILER ${yw_triplet}-gcc)
set(CMAKE_LIBRARY_ARCHITECTURE ${yw_triplet})

# pkg-config reads only the target's .pc files (and the arch-independent
# ones); a PKG_CONFIG_PATH from the environment could bring in host ones.
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/${yw_triplet}/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")
set(ENV{PKG_CONFIG_SYSROOT_DIR} "")

# Host programs (pkg-config, python3, ...) are the build machine's own.
set(CMAKE_FIND_ROOT_PATH /usr/${yw_triplet})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)

# ctest runs the test programs through qemu-user (package qemu-user). The
# dynamic loader and libc are the multiarch ones of libc6:ARCH (which the
# :ARCH libraries depend on), where the binaries expect them; no -L.
# Not `-L /usr/TRIPLET`: with the cross libc from there, fork() under qemu 7.2
# never returns in the child. Give -DCMAKE_CROSSCOMPILING_EMULATOR=... for
# another command (tools/cross.sh does).
if(NOT CMAKE_CROSSCOMPILING_EMULATOR)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${yw_qemu})
endif()

# Debian architecture of the packages `cpack -G DEB` makes in this build (CPack
# would otherwise ask dpkg, which answers with the build machine's).
set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE ${YW_ARCH})
