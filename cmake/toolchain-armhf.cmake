# Cross-build for 32-bit ARM with hard float (Debian armhf) with Debian's cross compiler and
# the multiarch :armhf libraries (see docs/cross.md; tools/cross.sh armhf
# installs them, builds and tests):
#   cmake -S . -B build-armhf -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-armhf.cmake
#
# No sysroot: with multiarch the :armhf libraries sit in /usr/lib/arm-linux-gnueabihf
# beside the native ones and share /usr/include, and Debian's cross gcc searches
# those directories itself. find_library() searches lib/arm-linux-gnueabihf
# because CMake takes CMAKE_LIBRARY_ARCHITECTURE from the compiler; nothing
# finds the amd64 libraries in lib/x86_64-linux-gnu.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR arm)
set(CMAKE_C_COMPILER arm-linux-gnueabihf-gcc)
set(CMAKE_LIBRARY_ARCHITECTURE arm-linux-gnueabihf)

# pkg-config reads only the armhf .pc files (and the arch-independent ones);
# a PKG_CONFIG_PATH from the environment could bring in host ones.
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/arm-linux-gnueabihf/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")
set(ENV{PKG_CONFIG_SYSROOT_DIR} "")

# Host programs (pkg-config, python3, ...) are the build machine's own.
set(CMAKE_FIND_ROOT_PATH /usr/arm-linux-gnueabihf)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)

# ctest runs the test programs through qemu-user (package qemu-user). The
# dynamic loader and libc are the multiarch ones of libc6:armhf (which the
# :armhf libraries depend on), where the binaries expect them; no -L.
# Not `-L /usr/arm-linux-gnueabihf`: with the cross libc from there, fork() under
# qemu 7.2 never returns in the child. Give -DCMAKE_CROSSCOMPILING_EMULATOR=...
# for another command (tools/cross.sh does).
if(NOT CMAKE_CROSSCOMPILING_EMULATOR)
  set(CMAKE_CROSSCOMPILING_EMULATOR qemu-arm)
endif()

# Debian architecture of the packages `cpack -G DEB` makes in this build (CPack
# would otherwise ask dpkg, which answers with the build machine's).
set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE armhf)
