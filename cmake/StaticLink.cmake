# lifeboat_static_link(<target> LIBS <lib>...): links <target> against <lib>... and everything
# they depend on, as CMake knows it (target_link_libraries, PUBLIC and PRIVATE, of our libraries
# and of imported ones), with every library but the C library's taken from its static archive.
# For a binary that must not load shared libraries (the checkpointer: each one costs resident
# pages for its relocations and data whether it is used or not) while the other binaries keep
# the shared ones the same targets carry.
#
# The link line is worked out once every target exists (a deferred call at the end of the top
# directory): an imported library's file (absl::strings -> .../libabsl_strings.so.X) becomes the
# archive next to it (.../libabsl_strings.a); a library with no archive is a configure error
# naming it. The C library's own parts (libc, libm, libpthread, libdl, librt) stay shared.
# Imported targets must be visible from the top directory: find_package makes them global
# (CMAKE_FIND_PACKAGE_TARGETS_GLOBAL, set below); pkg_check_modules needs IMPORTED_TARGET GLOBAL.
# A library whose archive needs more than its shared library (pkg-config's Libs.private) says
# so with lifeboat_static_deps(<imported target> <libs>...), e.g.
#   pkg_check_modules(FOO REQUIRED IMPORTED_TARGET foo)
#   lifeboat_static_deps(PkgConfig::FOO ${FOO_STATIC_LIBRARIES})
include_guard(GLOBAL)

set(LIFEBOAT_LIBC_PARTS c m pthread dl rt)
set(CMAKE_FIND_PACKAGE_TARGETS_GLOBAL ON)

function(lifeboat_static_deps target)
  set_property(TARGET ${target} APPEND PROPERTY LIFEBOAT_STATIC_DEPS ${ARGN})
endfunction()

function(lifeboat_static_link target)
  cmake_parse_arguments(S "" "" "LIBS" ${ARGN})
  cmake_language(EVAL CODE "
    cmake_language(DEFER DIRECTORY \"${CMAKE_SOURCE_DIR}\"
      CALL _lifeboat_static_link_now \"${target}\" \"${S_LIBS}\")")
endfunction()

# The archive for a library file or name, in ARCHIVE ("" for a part of the C library).
function(_lifeboat_archive_of what out)
  get_filename_component(dir "${what}" DIRECTORY)
  get_filename_component(file "${what}" NAME)
  if(file MATCHES "^lib(.+)\\.a$")
    set(${out} "${what}" PARENT_SCOPE)
    return()
  elseif(file MATCHES "^lib(.+)\\.so(\\.[0-9.]+)?$")
    set(name "${CMAKE_MATCH_1}")
  elseif(what MATCHES "::")
    message(FATAL_ERROR "static link: ${what} is not a target seen from the top directory: an "
                        "imported target must be GLOBAL (find_package: always, see "
                        "CMAKE_FIND_PACKAGE_TARGETS_GLOBAL; pkg_check_modules: IMPORTED_TARGET GLOBAL)")
  elseif(dir STREQUAL "" AND file MATCHES "^[A-Za-z0-9_+.-]+$")
    set(name "${file}")  # a bare library name, as in "z" or "-lz"
  else()
    message(FATAL_ERROR "static link: cannot tell which library '${what}' is")
  endif()
  if(name IN_LIST LIFEBOAT_LIBC_PARTS)
    set(${out} "" PARENT_SCOPE)
    return()
  endif()
  set(candidates)
  if(NOT dir STREQUAL "")
    list(APPEND candidates "${dir}/lib${name}.a")
  endif()
  find_library(_lifeboat_archive_${name} NAMES lib${name}.a NO_CACHE)
  list(APPEND candidates "${_lifeboat_archive_${name}}")
  # The compiler's own runtime libraries (libatomic, ...) live in its directory.
  execute_process(COMMAND ${CMAKE_CXX_COMPILER} -print-file-name=lib${name}.a
                  OUTPUT_VARIABLE from_compiler OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(IS_ABSOLUTE "${from_compiler}")
    list(APPEND candidates "${from_compiler}")
  endif()
  foreach(c ${candidates})
    if(EXISTS "${c}")
      set(${out} "${c}" PARENT_SCOPE)
      return()
    endif()
  endforeach()
  message(FATAL_ERROR "static link: no static archive lib${name}.a for '${what}' "
                      "(install the Debian package that ships it, usually its -dev package)")
endfunction()

# Appends the link items of `item` and its dependencies to ARCHIVES / FLAGS in the caller.
# Appends the static archive of `what` to ARCHIVES, or `fallback` to FLAGS when it has none
# (a macro: it appends to the caller's lists).
macro(_lifeboat_take what fallback)
  _lifeboat_archive_of("${what}" archive)
  if(archive)
    list(APPEND ARCHIVES "${archive}")
  else()
    list(APPEND FLAGS "${fallback}")
  endif()
endmacro()

function(_lifeboat_static_visit item)
  # Generator expressions found in link interfaces: $<LINK_ONLY:x> (a static library's private
  # dependency) is x; platform conditions are decided for this platform.
  if(item MATCHES "^\\$<LINK_ONLY:(.+)>$")
    set(item "${CMAKE_MATCH_1}")
  elseif(item MATCHES "^\\$<\\$<PLATFORM_ID:([^>]*)>:(.*)>$")
    if(NOT CMAKE_MATCH_1 STREQUAL CMAKE_SYSTEM_NAME)
      return()
    endif()
    set(item "${CMAKE_MATCH_2}")
  elseif(item MATCHES "^\\$<")
    message(FATAL_ERROR "static link: cannot evaluate '${item}' at configure time")
  endif()
  if(item STREQUAL "" OR item IN_LIST _lifeboat_seen)
    return()
  endif()
  set(_lifeboat_seen ${_lifeboat_seen} "${item}" PARENT_SCOPE)
  list(APPEND _lifeboat_seen "${item}")

  if(TARGET ${item})
    get_target_property(aliased ${item} ALIASED_TARGET)
    if(aliased)
      set(item ${aliased})
    endif()
    get_target_property(type ${item} TYPE)
    get_target_property(imported ${item} IMPORTED)
    set(deps)
    if(NOT imported AND type STREQUAL "STATIC_LIBRARY")
      list(APPEND ARCHIVES "$<TARGET_FILE:${item}>")
      list(APPEND _lifeboat_own ${item})
      get_target_property(deps ${item} LINK_LIBRARIES)  # PUBLIC and PRIVATE
    elseif(type STREQUAL "INTERFACE_LIBRARY" OR imported)
      if(imported AND NOT type STREQUAL "INTERFACE_LIBRARY")
        get_target_property(location ${item} IMPORTED_LOCATION)
        if(NOT location)
          get_target_property(configs ${item} IMPORTED_CONFIGURATIONS)
          foreach(config ${configs})
            get_target_property(location ${item} IMPORTED_LOCATION_${config})
            if(location)
              break()
            endif()
          endforeach()
        endif()
        if(NOT location)
          message(FATAL_ERROR "static link: imported target ${item} names no library file")
        endif()
        _lifeboat_take("${location}" "${location}")
      endif()
      get_target_property(deps ${item} INTERFACE_LINK_LIBRARIES)
      get_target_property(options ${item} INTERFACE_LINK_OPTIONS)
      if(options)
        list(APPEND FLAGS ${options})
      endif()
    else()
      message(FATAL_ERROR "static link: ${item} is a ${type}; only static libraries can be linked in")
    endif()
    get_target_property(extra ${item} LIFEBOAT_STATIC_DEPS)
    if(extra)
      list(APPEND deps ${extra})
    endif()
    foreach(dep ${deps})
      if(dep)
        _lifeboat_static_visit("${dep}")
      endif()
    endforeach()
  elseif(item MATCHES "^-l(.+)$")
    _lifeboat_take("${CMAKE_MATCH_1}" "${item}")
  elseif(item MATCHES "^-")
    list(APPEND FLAGS "${item}")  # a linker flag such as -pthread
  else()
    _lifeboat_take("${item}" "${item}")
  endif()
  set(ARCHIVES ${ARCHIVES} PARENT_SCOPE)
  set(FLAGS ${FLAGS} PARENT_SCOPE)
  set(_lifeboat_own ${_lifeboat_own} PARENT_SCOPE)
  set(_lifeboat_seen ${_lifeboat_seen} PARENT_SCOPE)
endfunction()

function(_lifeboat_static_link_now target libs)
  set(ARCHIVES)
  set(FLAGS)
  set(_lifeboat_own)
  set(_lifeboat_seen)
  foreach(lib ${libs})
    if(NOT TARGET ${lib})
      message(FATAL_ERROR "static link of ${target}: ${lib} is not a target")
    endif()
    # The usage requirements (include dirs, definitions, options) of the whole graph, and none of
    # its link items: those come below.
    target_include_directories(${target} PRIVATE $<TARGET_PROPERTY:${lib},INTERFACE_INCLUDE_DIRECTORIES>)
    target_compile_definitions(${target} PRIVATE $<TARGET_PROPERTY:${lib},INTERFACE_COMPILE_DEFINITIONS>)
    target_compile_options(${target} PRIVATE $<TARGET_PROPERTY:${lib},INTERFACE_COMPILE_OPTIONS>)
    _lifeboat_static_visit("${lib}")
  endforeach()
  list(REMOVE_DUPLICATES ARCHIVES)
  list(REMOVE_DUPLICATES FLAGS)
  if(_lifeboat_own)
    add_dependencies(${target} ${_lifeboat_own})
  endif()
  # One group: archives may depend on each other in any order.
  target_link_libraries(${target} PRIVATE -Wl,--start-group ${ARCHIVES} -Wl,--end-group ${FLAGS})
  target_link_options(${target} PRIVATE -static-libstdc++ -static-libgcc)
  string(REPLACE ";" " " shown "${ARCHIVES} ${FLAGS}")
  message(VERBOSE "static link of ${target}: ${shown}")
endfunction()
