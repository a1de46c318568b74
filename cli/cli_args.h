/* cli_args — argument parsing helpers shared by the subcommands. */
#ifndef CJ_CLI_ARGS_H
#define CJ_CLI_ARGS_H

/* s as a whole decimal integer in [lo, hi] into *out: 0, or -1 (nothing written). */
int cli_parse_int(const char *s, int lo, int hi, int *out);

#endif
