# Install rules: headers, the library, the program, a CMake package (backpropConfig.cmake, its
# version file and the exported backprop::backprop target) and a pkg-config file; and the Debian
# package that `cpack -G DEB` makes of them.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(BP_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/backprop)
install(TARGETS backprop EXPORT backpropTargets
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(DIRECTORY include/backprop DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES ${PROJECT_BINARY_DIR}/include/backprop/version.hpp
              ${PROJECT_BINARY_DIR}/include/backprop/export.hpp
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/backprop)
if(BP_BUILD_CLI)
  install(TARGETS backprop_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()

install(EXPORT backpropTargets NAMESPACE backprop:: DESTINATION ${BP_CMAKE_DIR})
get_target_property(BP_LIBRARY_TYPE backprop TYPE)
configure_package_config_file(cmake/backpropConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/backpropConfig.cmake
                              INSTALL_DESTINATION ${BP_CMAKE_DIR})
# Before 1.0 a minor version may change the API, so only the same major.minor is compatible.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/backpropConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/backpropConfig.cmake
              ${PROJECT_BINARY_DIR}/backpropConfigVersion.cmake
        DESTINATION ${BP_CMAKE_DIR})

# pkg-config: a static library also lists what it links to (a shared one must not: pkg-config
# wants every Requires.private package present even for --cflags).
set(BP_PC_REQUIRES_PRIVATE "")
set(BP_PC_LIBS_PRIVATE "")
set(BP_PC_CFLAGS "")
if(BP_LIBRARY_TYPE STREQUAL "STATIC_LIBRARY")
  set(BP_PC_REQUIRES_PRIVATE "Requires.private: zlib")
  if(BP_MPI)
    string(APPEND BP_PC_REQUIRES_PRIVATE " ompi-c")
  endif()
  string(APPEND BP_PC_REQUIRES_PRIVATE "\n")
  set(BP_PC_LIBS_PRIVATE "Libs.private: -ldnnl -lonnx_proto -lprotobuf -fopenmp\n")
  set(BP_PC_CFLAGS " -DBP_STATIC_DEFINE")
endif()
# The prefix is found from the .pc file's own place, so that the file stays right wherever the
# tree is installed (cmake --install --prefix, the .deb).
file(RELATIVE_PATH BP_PC_TO_PREFIX /prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig /prefix)
configure_file(cmake/backprop.pc.in ${PROJECT_BINARY_DIR}/backprop.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/backprop.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

include(cmake/package.cmake)
