# atrium_module(NAME <name> SRCS <files...> [DEPS <targets...>] [TESTS <files...>] [TEST_DEPS <targets...>])
#
# The one helper every module's CMakeLists.txt calls. It builds the static library
# atrium_<name> from an explicit source list, links its dependencies, and builds one
# GoogleTest executable per module from the listed *_test.cpp files, registered with ctest.
function(atrium_module)
  cmake_parse_arguments(M "" "NAME" "SRCS;DEPS;TESTS;TEST_DEPS" ${ARGN})
  set(lib atrium_${M_NAME})
  add_library(${lib} STATIC ${M_SRCS})
  target_include_directories(${lib} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(${lib} PUBLIC ${M_DEPS} atrium_options)
  if(M_TESTS AND ATRIUM_BUILD_TESTS)
    set(exe ${M_NAME}_unit_tests)
    add_executable(${exe} ${M_TESTS})
    target_link_libraries(${exe} PRIVATE ${lib} ${M_TEST_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
    add_test(NAME unit.${M_NAME} COMMAND ${exe} --gtest_brief=1)
    set_tests_properties(unit.${M_NAME} PROPERTIES LABELS unit TIMEOUT 300)
  endif()
endfunction()
