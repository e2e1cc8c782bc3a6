# Install rules: headers, the shared and static libraries, the program, pkg-config
# files and a CMake package (find_package(digitnet) with digitnet::digitnet,
# digitnet::dist and digitnet::plot, and their *_static twins).
# Each library comes with its header: digitnet.h, digitnet_dist.h (MPI), digitnet_plot.h (libpng).
set(DN_INSTALLED_LIBS digitnet digitnet_static)
set(DN_INSTALLED_HEADERS ${PROJECT_SOURCE_DIR}/include/digitnet.h)
if(DN_HAVE_MPI)
  list(APPEND DN_INSTALLED_LIBS digitnet_dist digitnet_dist_static)
  list(APPEND DN_INSTALLED_HEADERS ${PROJECT_SOURCE_DIR}/include/digitnet_dist.h)
endif()
if(DN_HAVE_PNG)
  list(APPEND DN_INSTALLED_LIBS digitnet_plot digitnet_plot_static)
  list(APPEND DN_INSTALLED_HEADERS ${PROJECT_SOURCE_DIR}/include/digitnet_plot.h)
endif()
install(TARGETS ${DN_INSTALLED_LIBS} EXPORT digitnetTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES ${DN_INSTALLED_HEADERS} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS digitnet_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
# The man page (generated from the --help texts, see CMakeLists.txt) and the bash
# completion, which bash-completion loads by the command's name.
install(FILES ${PROJECT_BINARY_DIR}/digitnet.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES ${PROJECT_SOURCE_DIR}/scripts/digitnet.bash-completion
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions RENAME digitnet)

set(DN_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/digitnet)
install(EXPORT digitnetTargets NAMESPACE digitnet:: DESTINATION ${DN_CMAKE_DIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/digitnetConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/digitnetConfig.cmake INSTALL_DESTINATION ${DN_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/digitnetConfigVersion.cmake
                                 COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/digitnetConfig.cmake ${PROJECT_BINARY_DIR}/digitnetConfigVersion.cmake
        DESTINATION ${DN_CMAKE_DIR})

# pkg-config files find their prefix from where they lie (${pcfiledir}), so
# `cmake --install --prefix DIR` into any folder gives files that are right there.
file(RELATIVE_PATH DN_PC_TO_PREFIX /prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig /prefix)
set(DN_PC_OPENMP "")
if(DN_HAVE_OPENMP)
  set(DN_PC_OPENMP "${OpenMP_C_FLAGS}") # -fopenmp: the compiler driver links its runtime
endif()
# MPI's own pkg-config module, when it has one (Open MPI: ompi-c; MPICH: mpich).
set(DN_PC_MPI "")
if(DN_HAVE_MPI)
  pkg_search_module(DN_MPI_PC QUIET ompi-c mpich mpi-c)
  if(DN_MPI_PC_FOUND)
    set(DN_PC_MPI ${DN_MPI_PC_MODULE_NAME})
  endif()
endif()
configure_file(${PROJECT_SOURCE_DIR}/cmake/digitnet.pc.in ${PROJECT_BINARY_DIR}/digitnet.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/digitnet.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
if(DN_HAVE_MPI)
  configure_file(${PROJECT_SOURCE_DIR}/cmake/digitnet_dist.pc.in ${PROJECT_BINARY_DIR}/digitnet_dist.pc @ONLY)
  install(FILES ${PROJECT_BINARY_DIR}/digitnet_dist.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endif()
if(DN_HAVE_PNG)
  configure_file(${PROJECT_SOURCE_DIR}/cmake/digitnet_plot.pc.in ${PROJECT_BINARY_DIR}/digitnet_plot.pc @ONLY)
  install(FILES ${PROJECT_BINARY_DIR}/digitnet_plot.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endif()
