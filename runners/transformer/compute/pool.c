/* pool — see pool.h. */
#include "pool.h"

#include <pthread.h>

#ifdef _OPENMP
void pool_fan_out(void *(*fn)(void *), void *jobs, size_t job_size, int nt) {
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int t = 0; t < nt; t++) fn((char *)jobs + (size_t)t * job_size);
}
#else
void pool_fan_out(void *(*fn)(void *), void *jobs, size_t job_size, int nt) {
    pthread_t tid[POOL_MAX];
    int started[POOL_MAX] = {0};
    char *j = jobs;
    for (int t = 1; t < nt; t++) started[t] = pthread_create(&tid[t], NULL, fn, j + (size_t)t * job_size) == 0;
    fn(j);
    for (int t = 1; t < nt; t++) {
        if (started[t]) pthread_join(tid[t], NULL);
        else fn(j + (size_t)t * job_size); /* no thread to be had: do it here */
    }
}
#endif
