# weft_unity_groups(TARGET BATCHES SOURCES...): compile TARGET as a unity build, its sources
# combined into at most BATCHES files, so that each combined file parses the shared headers and
# instantiates their templates once instead of once per source (docs/architecture.md, "Build
# time"). A source's batch follows from its file name alone (an MD5 hash), not from its place in
# the list: adding a file never moves the others, so a file-scope name that clashes with another
# source's is found in the change that adds it, in its own batch. BATCHES stays fixed for the same
# reason (derived from the number of sources, one new file would move every file).
#
# Sources with their own compile options or SKIP_UNITY_BUILD_INCLUSION are left out and compiled
# on their own (CMake would refuse to combine files compiled with different flags).
# WEFT_UNITY_BUILD=OFF (for a developer editing one file at a time) compiles every source alone.
option(WEFT_UNITY_BUILD "Compile the engine, apps and tests in combined batches (unity build)" ON)

function(weft_unity_groups target batches)
  if(NOT WEFT_UNITY_BUILD)
    return()
  endif()
  set_target_properties(${target} PROPERTIES UNITY_BUILD ON UNITY_BUILD_MODE GROUP)
  foreach(source IN LISTS ARGN)
    get_source_file_property(options ${source} COMPILE_OPTIONS)
    get_source_file_property(skip ${source} SKIP_UNITY_BUILD_INCLUSION)
    if(options OR skip)
      continue()
    endif()
    get_filename_component(name ${source} NAME)
    string(MD5 hash ${name})
    string(SUBSTRING ${hash} 0 6 prefix)
    math(EXPR batch "0x${prefix} % ${batches}")
    set_source_files_properties(${source} PROPERTIES UNITY_GROUP ${target}_batch${batch})
  endforeach()
endfunction()
