/* version — the harness version stored with every run and bench row. */
#ifndef CJ_VERSION_H
#define CJ_VERSION_H

#define CJ_VERSION "0.1.0"

#endif
