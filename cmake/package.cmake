# `cpack -G DEB` in a build tree makes backprop_VERSION_amd64.deb: the library, headers, CMake
# package, pkg-config file and the program. Runtime dependencies come from dpkg-shlibdeps; the
# development ones are what the installed headers and CMake package ask for.
set(CPACK_PACKAGE_NAME backprop)
set(CPACK_PACKAGE_VENDOR "backprop")
set(CPACK_PACKAGE_CONTACT "backprop maintainers <backprop@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_GENERATOR DEB)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS ${CMAKE_INSTALL_LIBDIR})
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
# fmt is in the public headers; a static library also needs the development files of what it
# links (oneDNN's CMake package asks for OpenCL's).
set(CPACK_DEBIAN_PACKAGE_DEPENDS "libfmt-dev")
if(BP_LIBRARY_TYPE STREQUAL "STATIC_LIBRARY")
  string(APPEND CPACK_DEBIAN_PACKAGE_DEPENDS ", libdnnl-dev, ocl-icd-opencl-dev, zlib1g-dev")
  if(BP_MPI)
    string(APPEND CPACK_DEBIAN_PACKAGE_DEPENDS ", libopenmpi-dev")
  endif()
endif()
include(CPack)
