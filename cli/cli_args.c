/* cli_args — argument parsing helpers shared by the subcommands (see cli_args.h). */
#include "cli_args.h"

#include <errno.h>
#include <stdlib.h>

int cli_parse_int(const char *s, int lo, int hi, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = (int)v;
    return 0;
}
