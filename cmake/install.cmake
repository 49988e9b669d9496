# Install rules and packaging (see docs/install.md).
#
# Included at the end of the top-level CMakeLists.txt, which installs the three
# programs (bin/) and the profiles (share/yardwatch/profiles). This file adds
# the example config, the systemd unit, sysusers.d and tmpfiles.d files, the
# man pages and the docs, and configures CPack to build the .deb.
#
# Packages must be configured with -DCMAKE_INSTALL_PREFIX=/usr: the daemon's
# default profiles_dir is compiled in from the prefix, and the unit starts
# /usr/bin/yardwatchd.
#
# The config, unit, sysusers and tmpfiles destinations are computed when the
# install runs, from the prefix it runs with (`cmake --install B --prefix P`
# may differ from the configured one):
#   config    /etc/yardwatch/yardwatch.json   for prefix /usr (as GNUInstallDirs
#             does), /etc/opt/NAME for /opt/NAME, PREFIX/etc otherwise
#   unit      pkg-config systemd's systemdsystemunitdir for prefix /usr (that
#             is /lib/systemd/system on Debian 12), PREFIX/lib/systemd/system
#             otherwise (systemd also looks in /usr/local/lib/systemd/system);
#             -DYW_SYSTEMD_UNITDIR=DIR forces a directory
#   sysusers  PREFIX/lib/sysusers.d/yardwatch.conf
#   tmpfiles  PREFIX/lib/tmpfiles.d/yardwatch.conf
# The unit's ExecStart/ExecReload paths follow the binary and the config
# (unchanged for prefix /usr). An existing config that differs is kept and the
# new example is installed beside it as yardwatch.json.new.

include(GNUInstallDirs)

set(YW_SYSTEMD_UNITDIR "" CACHE PATH
    "Install yardwatchd.service here (empty: from pkg-config systemd / the prefix)")

set(_yw_pc_unitdir "")
set(_yw_pc_prefix "/usr")
if(PKG_CONFIG_FOUND)
  pkg_get_variable(_yw_pc_unitdir systemd systemdsystemunitdir)
  pkg_get_variable(_yw_pc_prefix_v systemd prefix)
  if(_yw_pc_prefix_v)
    set(_yw_pc_prefix "${_yw_pc_prefix_v}")
  endif()
endif()

if(NOT CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  message(STATUS "yardwatch: CMAKE_INSTALL_PREFIX is ${CMAKE_INSTALL_PREFIX}; "
                 "packages and the systemd unit expect -DCMAKE_INSTALL_PREFIX=/usr "
                 "(see docs/install.md)")
endif()

# ---- files whose destination depends on the install-time prefix ----
set(_yw_src "${PROJECT_SOURCE_DIR}")
set(_yw_bindir "${CMAKE_INSTALL_BINDIR}")
string(CONFIGURE [=[
# yardwatch: config, systemd unit, sysusers.d, tmpfiles.d (cmake/install.cmake)
set(_yw_p "${CMAKE_INSTALL_PREFIX}")
string(REGEX REPLACE "/+$" "" _yw_p "${_yw_p}")
if(_yw_p STREQUAL "/usr")
  set(_yw_etc "/etc")
elseif(_yw_p MATCHES "^/opt/")
  set(_yw_etc "/etc${_yw_p}")
else()
  set(_yw_etc "${_yw_p}/etc")
endif()
if(IS_ABSOLUTE "@_yw_bindir@")
  set(_yw_bin "@_yw_bindir@")
else()
  set(_yw_bin "${_yw_p}/@_yw_bindir@")
endif()
if(NOT "@YW_SYSTEMD_UNITDIR@" STREQUAL "")
  set(_yw_unitdir "@YW_SYSTEMD_UNITDIR@")
elseif(NOT "@_yw_pc_unitdir@" STREQUAL "" AND _yw_p STREQUAL "@_yw_pc_prefix@")
  set(_yw_unitdir "@_yw_pc_unitdir@")
else()
  set(_yw_unitdir "${_yw_p}/lib/systemd/system")
endif()
set(_yw_stage "$ENV{DESTDIR}")

# The unit, with the paths of this install.
file(READ "@_yw_src@/systemd/yardwatchd.service" _yw_unit)
string(REPLACE "/usr/bin/yardwatchd" "${_yw_bin}/yardwatchd" _yw_unit "${_yw_unit}")
string(REPLACE "/etc/yardwatch/yardwatch.json" "${_yw_etc}/yardwatch/yardwatch.json"
       _yw_unit "${_yw_unit}")
file(WRITE "@CMAKE_BINARY_DIR@/yw-install/yardwatchd.service" "${_yw_unit}")
file(INSTALL DESTINATION "${_yw_unitdir}" TYPE FILE
     PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
     FILES "@CMAKE_BINARY_DIR@/yw-install/yardwatchd.service")
file(INSTALL DESTINATION "${_yw_p}/lib/sysusers.d" TYPE FILE RENAME yardwatch.conf
     PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
     FILES "@_yw_src@/systemd/yardwatch.sysusers")
file(INSTALL DESTINATION "${_yw_p}/lib/tmpfiles.d" TYPE FILE RENAME yardwatch.conf
     PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
     FILES "@_yw_src@/systemd/yardwatch.tmpfiles")

# The example config; a technician's edited config is never overwritten.
set(_yw_conf "${_yw_stage}${_yw_etc}/yardwatch/yardwatch.json")
set(_yw_conf_name yardwatch.json)
if(EXISTS "${_yw_conf}")
  file(SHA256 "${_yw_conf}" _yw_old)
  file(SHA256 "@_yw_src@/config/yardwatch.json" _yw_new)
  if(NOT _yw_old STREQUAL _yw_new)
    set(_yw_conf_name yardwatch.json.new)
    message(STATUS "Keeping: ${_yw_conf} (the example goes to ${_yw_conf_name})")
  endif()
endif()
file(INSTALL DESTINATION "${_yw_etc}/yardwatch" TYPE FILE RENAME "${_yw_conf_name}"
     PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
     FILES "@_yw_src@/config/yardwatch.json")
]=] _yw_install_code @ONLY)
install(CODE "${_yw_install_code}")

# ---- man pages and docs ----
install(FILES docs/man/yardwatchd.8 DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)
install(FILES docs/man/yardwatch.1 docs/man/yardwatch-sim.1
        DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES docs/man/yardwatch.json.5 DESTINATION ${CMAKE_INSTALL_MANDIR}/man5)
install(FILES README.md docs/install.md docs/spec.md docs/behaviour.md docs/store.md docs/simulator.md
        docs/status-page.md DESTINATION ${CMAKE_INSTALL_DOCDIR})

# ---- CPack: the .deb ----
# One package, yardwatch, with the three programs: the top-level install rule
# puts yardwatch-sim with the others (no component), and the simulator is also
# a commissioning tool on site.
set(CPACK_PACKAGE_NAME yardwatch)
set(CPACK_PACKAGE_VENDOR "yardwatch")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_CONTACT "yardwatch maintainers <yardwatch@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "Modbus RTU/TCP to SQLite and MQTT gateway for residential compounds")
set(CPACK_PACKAGE_DESCRIPTION
"yardwatchd polls Modbus RTU (RS-485) and Modbus TCP devices (fire-water
pressure transmitters, electricity meters, relay and IO modules), stores the
readings in SQLite, evaluates alarm rules at the edge and publishes alarms
and telemetry over MQTT, with at-least-once delivery of alarm events.
The package holds the daemon and its systemd unit, the operator's command
line yardwatch, the device profiles, and the simulator yardwatch-sim.
The service is not enabled on installation: edit
/etc/yardwatch/yardwatch.json, then systemctl enable --now yardwatchd.")
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)

# Architecture: a toolchain file may set it (cmake/toolchain-cross.cmake does);
# -DYW_DEB_ARCH=... overrides; else the build machine's (dpkg) for a native
# build, or the Debian name of CMAKE_SYSTEM_PROCESSOR for a cross build.
set(YW_DEB_ARCH "" CACHE STRING "Debian architecture of the .deb (empty: automatic)")
if(YW_DEB_ARCH)
  set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE "${YW_DEB_ARCH}")
elseif(NOT CPACK_DEBIAN_PACKAGE_ARCHITECTURE)
  if(CMAKE_CROSSCOMPILING)
    string(TOLOWER "${CMAKE_SYSTEM_PROCESSOR}" _yw_cpu)
    if(_yw_cpu MATCHES "^(aarch64|arm64)$")
      set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE arm64)
    elseif(_yw_cpu MATCHES "^arm")
      set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE armhf)
    elseif(_yw_cpu MATCHES "^(x86_64|amd64)$")
      set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE amd64)
    elseif(_yw_cpu MATCHES "^i.86$")
      set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE i386)
    else()
      set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE "${_yw_cpu}")
    endif()
  else()
    find_program(YW_DPKG dpkg)
    if(YW_DPKG)
      execute_process(COMMAND ${YW_DPKG} --print-architecture
                      OUTPUT_VARIABLE CPACK_DEBIAN_PACKAGE_ARCHITECTURE
                      OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    endif()
  endif()
endif()

# Depends: dpkg-shlibdeps (on for every build). For a cross build it is told
# the host architecture, so it finds the target's multiarch libraries (e.g.
# libmodbus5:arm64). When it cannot resolve them, the generated
# yw-cpack-options.cmake falls back to this explicit list at packaging time.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(YW_DEB_DEPENDS_FALLBACK
    "libc6, libmodbus5 (>= 3.1.4), libmosquitto1 (>= 1.6), libsqlite3-0 (>= 3.31), libjansson4 (>= 2.12), libmicrohttpd12 (>= 0.9.71)")
if(YW_HAVE_SYSTEMD)
  string(APPEND YW_DEB_DEPENDS_FALLBACK ", libsystemd0")
endif()

# Maintainer scripts and the conffile.
file(MAKE_DIRECTORY "${CMAKE_BINARY_DIR}/yw-deb")
file(WRITE "${CMAKE_BINARY_DIR}/yw-deb/conffiles" "/etc/yardwatch/yardwatch.json\n")
foreach(_yw_s postinst prerm postrm)
  configure_file("${PROJECT_SOURCE_DIR}/cmake/deb/${_yw_s}" "${CMAKE_BINARY_DIR}/yw-deb/${_yw_s}"
                 COPYONLY)
endforeach()
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${CMAKE_BINARY_DIR}/yw-deb/conffiles"
    "${CMAKE_BINARY_DIR}/yw-deb/postinst"
    "${CMAKE_BINARY_DIR}/yw-deb/prerm"
    "${CMAKE_BINARY_DIR}/yw-deb/postrm")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

# Read by cpack when it runs: the dpkg-shlibdeps probe and fallback.
if(CMAKE_CROSSCOMPILING)
  set(_yw_cross 1)
else()
  set(_yw_cross 0)
endif()
string(CONFIGURE [=[
# Generated by cmake/install.cmake: read by cpack at packaging time.
if(CPACK_GENERATOR STREQUAL "DEB")
  if(@_yw_cross@)
    # dpkg-shlibdeps looks for the libraries of the host architecture.
    set(ENV{DEB_HOST_ARCH} "${CPACK_DEBIAN_PACKAGE_ARCHITECTURE}")
  endif()
  set(_yw_ok 0)
  find_program(_yw_shlibdeps dpkg-shlibdeps)
  if(_yw_shlibdeps)
    set(_yw_tmp "@CMAKE_BINARY_DIR@/yw-deb/shlibdeps-probe")
    file(REMOVE_RECURSE "${_yw_tmp}")
    file(MAKE_DIRECTORY "${_yw_tmp}/debian")
    file(WRITE "${_yw_tmp}/debian/control" "")
    execute_process(COMMAND "${_yw_shlibdeps}" -O
                            "$<TARGET_FILE:yardwatchd>" "$<TARGET_FILE:yardwatch>"
                            "$<TARGET_FILE:yardwatch-sim>"
                    WORKING_DIRECTORY "${_yw_tmp}"
                    RESULT_VARIABLE _yw_rc OUTPUT_VARIABLE _yw_out ERROR_VARIABLE _yw_err)
    file(REMOVE_RECURSE "${_yw_tmp}")
    if(_yw_rc EQUAL 0 AND _yw_out MATCHES "shlibs:Depends=")
      set(_yw_ok 1)
    endif()
  endif()
  if(NOT _yw_ok)
    string(STRIP "${_yw_err}" _yw_err)
    message(WARNING "yardwatch: dpkg-shlibdeps cannot compute the dependencies "
                    "(${_yw_err}); using the explicit list: @YW_DEB_DEPENDS_FALLBACK@")
    set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS OFF)
    set(CPACK_DEBIAN_PACKAGE_DEPENDS "@YW_DEB_DEPENDS_FALLBACK@")
  endif()
  if(NOT CPACK_PACKAGING_INSTALL_PREFIX STREQUAL "/usr"
     OR NOT "@CMAKE_INSTALL_PREFIX@" STREQUAL "/usr")
    message(WARNING "yardwatch: this build was configured with CMAKE_INSTALL_PREFIX="
                    "@CMAKE_INSTALL_PREFIX@; the .deb needs -DCMAKE_INSTALL_PREFIX=/usr "
                    "(the daemon's default profiles_dir is compiled in from it)")
  endif()
endif()
]=] _yw_cpack_options @ONLY)
file(GENERATE OUTPUT "${CMAKE_BINARY_DIR}/yw-cpack-options.cmake" CONTENT "${_yw_cpack_options}")
set(CPACK_PROJECT_CONFIG_FILE "${CMAKE_BINARY_DIR}/yw-cpack-options.cmake")

set(CPACK_SOURCE_GENERATOR TGZ)
set(CPACK_SOURCE_IGNORE_FILES "/\\\\.git/" "/build[^/]*/" "\\\\.log$")

include(CPack)
