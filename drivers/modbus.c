/* module under construction */
#include <stddef.h>
typedef int yw_placeholder_modbus;
