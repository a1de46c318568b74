/* pool — the one way the forward pass runs work on several threads.
 *
 * pool_fan_out runs fn on each of nt jobs (job_size bytes apart, nt <=
 * POOL_MAX) and returns when all are done. With OpenMP, the jobs run on the
 * OpenMP pool that OpenBLAS's OpenMP build also uses (for the opt-in
 * `--kernels openblas` products), so that our loops and its products never
 * have more threads than cores. Without OpenMP (the fuzz builds), jobs 1..
 * run on new threads and job 0 on the caller's; a job whose thread cannot
 * start runs on the caller's too. Jobs must not depend on which thread runs
 * them: every result of the forward pass is the same for any nt. */
#ifndef CJ_POOL_H
#define CJ_POOL_H

#include <stddef.h>

#define POOL_MAX 64

void pool_fan_out(void *(*fn)(void *), void *jobs, size_t job_size, int nt);

#endif
