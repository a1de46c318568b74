# chaejeom — build, test, run. See README.md.
CC      ?= cc
BUILD   ?= build
OPT     ?= -O2 -march=native
SAN     ?=
PKGS    := jansson libpcre2-8 sqlite3 zlib libcurl libmicrohttpd
# OpenMP: our parallel loops and OpenBLAS's products share one thread pool,
# with OpenBLAS's OpenMP build (libopenblas-openmp-dev), picked over the
# system's default OpenBLAS by its pkg-config folder and an rpath (see
# fan_out in runners/transformer/compute/forward.c for why). OMP= builds without
# OpenMP against the default OpenBLAS (the fuzz builds do).
OMP     ?= -fopenmp
ifneq ($(OMP),)
BLAS_DIR := /usr/lib/$(shell $(CC) -print-multiarch 2>/dev/null)/openblas-openmp
BLAS_PC  := PKG_CONFIG_PATH=$(BLAS_DIR)/pkgconfig
BLAS_RPATH := -Wl,-rpath,$(BLAS_DIR)
endif
CFLAGS  += -std=c11 -D_GNU_SOURCE $(OPT) -ffp-contract=off -g -Wall -Wextra -Werror -pthread $(OMP) \
           $(shell $(BLAS_PC) pkg-config --cflags openblas $(PKGS) 2>/dev/null) $(SAN)
LDLIBS  += $(shell $(BLAS_PC) pkg-config --libs openblas $(PKGS) 2>/dev/null || \
             echo -lopenblas -ljansson -lpcre2-8 -lsqlite3 -lz -lcurl -lmicrohttpd) $(BLAS_RPATH) -lm -pthread
LDFLAGS += $(SAN) $(OMP)

LIB_SRC  := $(filter-out cli/main.c,$(wildcard common/*.c datasets/*.c tasks/*.c runners/*.c \
              runners/*/*.c runners/*/*/*.c serve/*.c harness/*.c metrics/*.c store/*.c reports/*.c cli/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
TEST_SRC := $(wildcard tests/unit/test_*.c)
TEST_BIN := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all test check test-asan run deps deps-test fuzz bench clean FORCE
all: chaejeom

chaejeom: $(BUILD)/chaejeom
	cp $< $@

$(BUILD)/chaejeom: $(BUILD)/cli/main.o $(BUILD)/libchaejeom.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/libchaejeom.a: $(LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

# Objects depend on the flags they were built with: a build folder rebuilt
# with other OPT/SAN (e.g. build-asan) never links stale objects.
FLAGS_STAMP := $(BUILD)/.flags
$(FLAGS_STAMP): FORCE
	@mkdir -p $(BUILD)
	@echo '$(CC) $(CFLAGS) $(LDFLAGS) $(LDLIBS)' | cmp -s - $@ || echo '$(CC) $(CFLAGS) $(LDFLAGS) $(LDLIBS)' >$@
FORCE:

$(BUILD)/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libchaejeom.a tests/check.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libchaejeom.a $(LDFLAGS) $(LDLIBS)

ASAN := OPT="-O2 -march=native" SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all"
# Checks that build nothing of ours (valgrind and libFuzzer make their own
# builds), so a sanitizer pass does not repeat them, and the core-type
# matrix, whose tests the sanitizer pass runs once already.
ASAN_SKIP := test_valgrind.sh test_fuzz_short.sh test_coretypes.sh

# The test command CI runs: the suite on the optimized build, then on an
# AddressSanitizer + UndefinedBehaviorSanitizer build (tests/all.sh).
test: deps-test
	@sh tests/all.sh

# One pass: unit tests, then end-to-end tests of the CLI, on $(BUILD).
check: deps-test
	$(MAKE) $(BUILD)/chaejeom $(TEST_BIN)
	@BUILD=$(BUILD) TEST_SKIP="$(TEST_SKIP)" sh tests/run.sh

test-asan:
	$(MAKE) BUILD=build-asan $(ASAN) TEST_SKIP="$(ASAN_SKIP)" check

deps:
	@sh scripts/deps.sh

deps-test:
	@sh scripts/deps.sh --test

run: deps
	$(MAKE) chaejeom
	sh scripts/run-default.sh

fuzz:
	@sh tests/fuzz/run.sh

bench: chaejeom
	@sh bench/run.sh

clean:
	rm -rf build build-* chaejeom

-include $(LIB_OBJ:.o=.d) $(BUILD)/cli/main.d

-include bench/bench.mk
