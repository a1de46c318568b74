# Benchmark tools (included by the Makefile). `make bench` builds them and
# runs bench/run.sh; `make bench-tools` only builds them.
BENCH_TOOLS := $(addprefix $(BUILD)/bench/,mkmodel prefill sgemm mcq gen)

.PHONY: bench-tools
bench-tools: $(BENCH_TOOLS)

$(BUILD)/bench/%: bench/%.c $(BUILD)/libchaejeom.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -o $@ $< $(BUILD)/libchaejeom.a $(LDFLAGS) $(LDLIBS)

# bench/run.sh finds the tools and the CLI through BUILD.
bench: bench-tools
bench: export BUILD := $(BUILD)

-include $(BENCH_TOOLS:=.d)
