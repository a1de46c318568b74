/* http_args — the `run` options of the HTTP runner (-m http[s]://...), kept
 * beside cmd_run.c so that the local runner's options stay where they are. */
#ifndef CJ_HTTP_ARGS_H
#define CJ_HTTP_ARGS_H

#include <stdio.h>

#include "../runners/runner.h"

/* 1 if model names one or more endpoints rather than a file. */
int http_args_is_url(const char *model);

/* Takes option name with value val into o: 1 if it was one of ours, 0 if
 * not, -1 (after printing why) for a bad value. */
int http_args_take(const char *name, const char *val, runner_http_opts *o);

void http_args_usage(FILE *f);

#endif
