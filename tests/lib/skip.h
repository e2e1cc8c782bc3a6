/* Skipped, not passed: a test that cannot run here (no data, no numpy) calls
 * DN_SKIP with the reason, and the program then exits 77, which CTest
 * (SKIP_RETURN_CODE) counts as skipped. A failure still wins over a skip.
 * Include after <cmocka.h>. */
#ifndef DN_TESTS_SKIP_H
#define DN_TESTS_SKIP_H

static int dn_skipped_tests;

#define DN_SKIP(...)                    \
    do {                                \
        print_message("skipped: ");     \
        print_message(__VA_ARGS__);     \
        print_message("\n");            \
        dn_skipped_tests++;             \
        skip();                         \
    } while (0)

/* main's return value from cmocka_run_group_tests' failure count. */
static inline int dn_tests_exit(int failures)
{
    return failures ? failures : dn_skipped_tests ? 77 : 0;
}

#endif
