# Copy the real file of shared library LIB into DEST under its soname (what the plug-in's NEEDED entry names).
get_filename_component(REAL ${LIB} REALPATH)
execute_process(COMMAND objdump -p ${REAL} OUTPUT_VARIABLE DUMP)
string(REGEX MATCH "SONAME +([^\n ]+)" _ "${DUMP}")
set(SONAME ${CMAKE_MATCH_1})
if(NOT SONAME)
  get_filename_component(SONAME ${REAL} NAME)
endif()
configure_file(${REAL} ${DEST}/${SONAME} COPYONLY)
