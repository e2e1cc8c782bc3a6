/* error.c — errors as values (see dn_error in digitnet.h) and the clock. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <time.h>

#include "internal.h"

const char *dn_status_name(dn_status code)
{
    switch (code) {
    case DN_OK: return "ok";
    case DN_ERR_USAGE: return "usage error";
    case DN_ERR_INPUT: return "bad input";
    case DN_ERR_IO: return "I/O error";
    case DN_ERR_NUMERIC: return "numeric failure";
    case DN_ERR_NOMEM: return "out of memory";
    case DN_ERR_MPI: return "MPI error";
    }
    return "unknown error";
}

/* Messages quote names and values read from files; a hostile file must not
 * get terminal escapes through them to whoever prints the message. C0
 * controls, DEL and the UTF-8 form of the C1 controls (U+0080–U+009F, where
 * CSI lives) become '?'; other UTF-8 text (×, →, names) stays as it is. */
static void make_printable(char *s)
{
    for (unsigned char *p = (unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            *p = '?';
        } else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
            p[0] = '?';
            p[1] = '?';
            p++;
        }
    }
}

dn_status dn_fail(dn_error *err, dn_status code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
        make_printable(err->message);
    }
    return code;
}

double dn_now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
