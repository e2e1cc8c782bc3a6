/* version.c — the version of the library a program runs with, which may
 * differ from the DN_VERSION_* macros it was compiled against. */
#include "digitnet.h"

const char *dn_version(void) { return DN_VERSION_STRING; }
