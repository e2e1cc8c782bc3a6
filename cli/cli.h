/*
 * cli.h — what the subcommands of the digitnet program share: a table-driven
 * argument parser, exit codes and error reporting. The program only parses
 * arguments, calls libdigitnet and formats what it returns.
 */
#ifndef DN_CLI_H
#define DN_CLI_H

#include <stdio.h>

#include "digitnet.h"
#include "digitnet_dist.h"
#include "digitnet_plot.h"

/* Exit codes (documented in the README). */
enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_FAILURE = 1, /* anything not listed below */
    CLI_EXIT_USAGE = 2,   /* bad flag or flag value */
    CLI_EXIT_INPUT = 3,   /* malformed input file */
    CLI_EXIT_IO = 4,      /* cannot read or write a file */
    CLI_EXIT_NUMERIC = 5, /* training diverged (NaN/Inf) */
    CLI_EXIT_NOMEM = 6,
    CLI_EXIT_MPI = 7
};

typedef enum cli_type { CLI_FLAG, CLI_INT, CLI_SIZE, CLI_U64, CLI_DOUBLE, CLI_STRING, CLI_CHOICE, CLI_STRINGS } cli_type;

#define CLI_STRINGS_MAX 8
/* The values of a repeatable option, in the order given. */
typedef struct cli_strings {
    const char *value[CLI_STRINGS_MAX];
    int count;
} cli_strings;

/* One option. target points to: int (FLAG, INT, CHOICE: index into choices),
 * size_t (SIZE), uint64_t (U64), double (DOUBLE), const char * (STRING),
 * cli_strings (STRINGS: the option may be given up to CLI_STRINGS_MAX times).
 * Numbers must lie in [min, max]; min_open makes the lower bound exclusive. */
typedef struct cli_opt {
    const char *name; /* "--eta" */
    cli_type type;
    void *target;
    const char *value_name; /* "E" in "--eta E" */
    const char *help;
    double min, max;
    int min_open;
    const char *const *choices; /* NULL-terminated, for CLI_CHOICE */
} cli_opt;

typedef struct cli_spec {
    const char *command;     /* "pta" */
    const char *positionals; /* "MODEL" or "" */
    const char *summary;     /* one line */
    const cli_opt *opts;
    int nopts;
    int min_positionals, max_positionals;
} cli_spec;

enum { CLI_PARSED = 0, CLI_HELP_SHOWN = 1, CLI_BAD_USAGE = 2 };

/* Parses argv[1..] (argv[0] is the subcommand). Positionals land in pos[]
 * (room for spec->max_positionals). Prints help or the error itself. */
int cli_parse(const cli_spec *spec, int argc, char **argv, const char **pos, int *npos);
/* The value the last "--name VALUE" or "--name=VALUE" in argv[1..] gives, or
 * NULL: for an option that must be known before the others are read (a
 * preset that sets their defaults). cli_parse reads it again as usual. */
const char *cli_peek_value(int argc, char **argv, const char *name);
/* The exit code of a command whose cli_parse returned rc (not CLI_PARSED):
 * success after --help, a usage error otherwise. */
int cli_parse_exit_code(int rc);

int cli_exit_code(dn_status status);
/* Fills err like the library's errors (a printf-style message); returns code. */
dn_status cli_fail(dn_error *err, dn_status code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Prints "digitnet: <message>" to stderr and returns the exit code. */
int cli_report(const dn_error *err);

/* Loads the train and/or test split of an MNIST-format folder (NULL to skip). */
int cli_load_mnist(const char *dir, dn_dataset **train, dn_dataset **test);

/* Text built in memory and then written atomically (nothing half-written). */
typedef struct cli_text {
    char *buffer;
    size_t size;
    FILE *fp;
} cli_text;
int cli_text_open(cli_text *t);
dn_status cli_text_commit(cli_text *t, const char *path, dn_error *err);

/* Before a long run: DN_ERR_IO naming flag and path when the folder a
 * file will be written to is missing or not writable (path NULL: DN_OK),
 * so that the run fails at once rather than after its training. */
dn_status cli_check_output(const char *flag, const char *path, dn_error *err);

/* Creates a folder (and its parents) if missing. */
dn_status cli_make_dirs(const char *path, dn_error *err);

/* Monotonic wall clock, seconds. */
double cli_now_seconds(void);

/* The subcommands. */
int cmd_pta(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_mlp(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_activations(int argc, char **argv);
int cmd_reproduce(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_partition(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_augment(int argc, char **argv);

#endif /* DN_CLI_H */
