# generate.cmake: make the installed man page and shell completions with the
# just-built harn, from the option table (supervisor/cli_gen.c), so that
# they cannot drift from the parser. Run by the build (CMakeLists.txt):
#   cmake -DHARN=path/to/harn -DTEMPLATE=docs/man/harn.1.in -DOUT=DIR -P generate.cmake
# Writes DIR/harn.1 (and DIR/harn.1.gz, gzip -9n, when gzip is there: the
# installed page, as Debian installs man pages), DIR/harn.bash, DIR/_harn.
# Any failure fails the build.
foreach(var HARN TEMPLATE OUT)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "generate.cmake: -D${var}=... is needed")
  endif()
endforeach()
file(MAKE_DIRECTORY ${OUT})
function(harn_gen out)
  execute_process(COMMAND ${HARN} ${ARGN} OUTPUT_FILE ${out}.tmp RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "generate.cmake: harn ${ARGN} failed (${rc})")
  endif()
  file(RENAME ${out}.tmp ${out})
endfunction()
harn_gen(${OUT}/harn.1 help --man ${TEMPLATE})
harn_gen(${OUT}/harn.bash completion bash)
harn_gen(${OUT}/_harn completion zsh)
find_program(GZIP gzip)
if(GZIP)
  execute_process(COMMAND ${GZIP} -9n -c ${OUT}/harn.1 OUTPUT_FILE ${OUT}/harn.1.gz
                  RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "generate.cmake: gzip failed (${rc})")
  endif()
endif()
