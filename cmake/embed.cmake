# Write the text file IN into the C header OUT as `static const char NAME[]`
# (its bytes and a terminating NUL), so that SQL can live in a .sql file and
# be compiled in. Run at build time:
#   cmake -DIN=views.sql -DOUT=views_sql.h -DNAME=store_views_sql -P embed.cmake
file(READ "${IN}" hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "((0x[0-9a-f][0-9a-f],){16})" "\\1\n\t" bytes "${bytes}")
get_filename_component(src "${IN}" NAME)
file(WRITE "${OUT}.tmp"
  "/* Generated from ${src} by cmake/embed.cmake: do not edit. */\n"
  "static const char ${NAME}[] = {\n\t${bytes}0x00\n};\n")
execute_process(COMMAND "${CMAKE_COMMAND}" -E copy_if_different "${OUT}.tmp" "${OUT}")
file(REMOVE "${OUT}.tmp")
