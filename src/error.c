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

dn_status dn_fail(dn_error *err, dn_status code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return code;
}

double dn_now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
