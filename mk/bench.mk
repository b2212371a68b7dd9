# mk/bench.mk — `make bench`: install what the benchmarks need, build them,
# run every workload on tricolor and its peers side by side, print the table
# and write benchmarks/results.json (see benchmarks/README.md).
#
#   make bench                     everything, medians of BENCH_REPS (5)
#   make bench-quick               a smoke run with small sizes
#   BENCH_ONLY=mark make bench     one workload (gcbench, mark, binding, gcbench-binding,
#                                  inspect, replay, gclab)
#
# run.py runs benchmarks/gclab.py (the pause and pacing tables, mk/gclab.mk)
# as its last workload and ends with issue 16's summary table: every row
# with its peer from the same run.
#
# The peers (bdwgc, malloc, the ideal walks, Python lists, Lua tables) need no
# core: when build/libtricolor.a or a binding does not build, the tricolor
# rows are reported as skipped and the rest still runs.

BENCH_BIN    := $(BUILD)/bench
BENCH_CFLAGS := -O2 -g -std=c11 -D_GNU_SOURCE -Wall -Wextra -pthread -Icsrc/include
BENCH_GC     = $(shell pkg-config --cflags --libs bdw-gc 2>/dev/null || echo -lgc -lpthread -ldl)
BENCH_TCLIBS := $(BUILD)/libtricolor.a -lpthread -lm
BENCH_PEERS  := $(BENCH_BIN)/gcbench_bdwgc $(BENCH_BIN)/gcbench_malloc \
                $(BENCH_BIN)/mark_bdwgc $(BENCH_BIN)/mark_ideal
BENCH_TC     := $(BENCH_BIN)/gcbench_tricolor $(BENCH_BIN)/mark_tricolor $(BENCH_BIN)/inspect_tricolor

.PHONY: bench bench-quick bench-setup bench-build bench-build-tricolor bench-build-bindings bench-profile

bench: gclab-setup
	@$(MAKE) --no-print-directory bench-build
	$(PYTHON) benchmarks/run.py

bench-quick:
	@BENCH_QUICK=1 $(MAKE) --no-print-directory bench

# bench-setup — after the project's `setup`, apt-get whatever the benchmarks
# still miss (a fresh Debian machine lacks libgc-dev and lua5.4); sudo when
# not root.
bench-setup: setup
	@missing=""; \
	command -v $(CC) >/dev/null 2>&1 || missing="$$missing gcc"; \
	command -v make >/dev/null 2>&1 || missing="$$missing make"; \
	command -v $(PYTHON) >/dev/null 2>&1 || missing="$$missing python3"; \
	command -v pkg-config >/dev/null 2>&1 || missing="$$missing pkg-config"; \
	pkg-config --exists bdw-gc 2>/dev/null || missing="$$missing libgc-dev"; \
	command -v lua5.4 >/dev/null 2>&1 || missing="$$missing lua5.4"; \
	if [ -n "$$missing" ]; then \
	  echo "bench: installing$$missing"; \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  $$sudo apt-get update && \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y --no-install-recommends $$missing; \
	fi

# bench-build — the peers must build; tricolor and the bindings may not (yet),
# and then a stale binary must not be measured in their place.
bench-build: $(BENCH_PEERS)
	@if $(MAKE) --no-print-directory lib; then \
	  $(MAKE) --no-print-directory bench-build-tricolor || { rm -f $(BENCH_TC); \
	    echo "bench: the tricolor benchmarks did not link: tricolor C rows will be skipped"; }; \
	else \
	  rm -f $(BENCH_TC); \
	  echo "bench: build/libtricolor.a did not build: tricolor C rows will be skipped"; \
	fi
	@$(MAKE) --no-print-directory bench-build-bindings
	@$(MAKE) --no-print-directory $(BENCH_BIN)/gcbench_go || { rm -f $(BENCH_BIN)/gcbench_go; \
	  echo "bench: the Go GCBench did not build: its rows will be skipped"; }

bench-build-tricolor: $(BENCH_TC)

# gcbench_go — GCBench on Go's collector (benchmarks/go, gclab-go's
# `gcbench` mode), the gcbench table's Go peer.
$(BENCH_BIN)/gcbench_go: benchmarks/go/main.go benchmarks/go/go.mod
	@mkdir -p $(dir $@)
	cd benchmarks/go && GOCACHE=$(abspath $(BUILD))/gclab/gocache GOFLAGS=-mod=mod CGO_ENABLED=0 \
	  go build -o $(abspath $@) .

bench-build-bindings:
	@$(MAKE) --no-print-directory py-build || \
	  echo "bench: make py-build failed: Python tricolor rows will be skipped"
	@$(MAKE) --no-print-directory lua-build || \
	  echo "bench: make lua-build failed: Lua tricolor rows will be skipped"

# One source per workload, built once per system: gcbench_<sys> from
# gcbench.c and mark_<sys> from mark.c with -DBENCH_<SYS>.
BENCH_DEF_tricolor := -DBENCH_TRICOLOR
BENCH_DEF_bdwgc    := -DBENCH_BDWGC
BENCH_DEF_malloc   := -DBENCH_MALLOC
BENCH_DEF_ideal    := -DBENCH_IDEAL
BENCH_LIBS_tricolor = $(BENCH_TCLIBS)
BENCH_LIBS_bdwgc    = $(BENCH_GC)

$(BENCH_TC): $(BUILD)/libtricolor.a csrc/include/tricolor.h

$(BENCH_BIN)/gcbench_%: benchmarks/gcbench.c benchmarks/bench.h
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) $(BENCH_DEF_$*) $< $(BENCH_LIBS_$*) -o $@

$(BENCH_BIN)/mark_%: benchmarks/mark.c benchmarks/bench.h
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) $(BENCH_DEF_$*) $< $(BENCH_LIBS_$*) -o $@

# inspect_tricolor — issue 15's rows (path_to, retained on 1M objects); it
# reads the core's pause through an internal hook, hence -Icsrc.
$(BENCH_BIN)/inspect_tricolor: benchmarks/inspect.c benchmarks/bench.h csrc/inspect.h
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) -Icsrc -DBENCH_TRICOLOR $< $(BENCH_TCLIBS) -o $@

# bench-profile — perf on the tricolor C benchmarks: top symbols and hottest
# instructions (benchmarks/profile.sh; PROFILE_N nodes, PROFILE_COLLECTOR).
bench-profile: bench-build
	benchmarks/profile.sh $(or $(PROFILE_N),4194304) $(PROFILE_COLLECTOR)
