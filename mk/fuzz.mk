# mk/fuzz.mk — the multi-threaded model fuzzer (tests/c/fuzz_*.c), its
# planted-bug matrix and the allocation-failure injection.
#
#   make fuzz             the long form (minutes): every collector x barrier
#                         with >= 10^7 operations and >= 10^5 checkmarked
#                         cycles each, the whole planted-bug matrix, the
#                         whole allocation-failure sweep. FUZZ_SEED=... to
#                         repeat a run (a random seed is printed otherwise).
#   make test-fuzz        the short forms (part of make test): each
#                         configuration for a few seconds, the same under
#                         TSan, one planted-bug cell per plant and collector,
#                         the out-of-memory tests and the whole
#                         allocation-failure sweep (it takes seconds).
#
# A failure prints its replay command, e.g.
#   build/fuzz config=concurrent/yuasa seed=0x1234 round=3
PHONY_FUZZ := fuzz test-fuzz test-fuzz-short test-fuzz-tsan test-fuzz-planted test-failpoints fuzz-correct \
              fuzz-planted fuzz-failpoints
.PHONY: $(PHONY_FUZZ)

FUZZ_SRC := tests/c/fuzz_main.c tests/c/fuzz_run.c tests/c/fuzz_model.c tests/c/fuzz_raw.c
FUZZ_HDR := tests/c/fuzz_model.h tests/c/fuzz_internal.h
FUZZ_SEED ?= $(shell od -An -N4 -tu4 /dev/urandom | tr -d ' ')

$(BUILD)/fuzz: $(FUZZ_SRC) $(FUZZ_HDR) $(BUILD)/libtricolor.a
	$(CC) $(CFLAGS) -Itests/c $(FUZZ_SRC) $(BUILD)/libtricolor.a $(LDLIBS) -o $@

$(BUILD)/fuzz_tsan: $(FUZZ_SRC) $(FUZZ_HDR) $(CSRC) $(CHDR)
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS_BASE) -O1 -g -fsanitize=thread -DTC_NO_MEMBARRIER -Wno-tsan -Itests/c $(FUZZ_SRC) $(CSRC) \
	    $(LDLIBS) -o $@

# Planted-bug builds (csrc/plant.h names each plant and its one site).
$(BUILD)/fuzz-plant-%: $(FUZZ_SRC) $(FUZZ_HDR) $(CSRC) $(CHDR)
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS) -DTC_PLANT=PLANT_$$(echo $* | tr a-z A-Z) -Itests/c $(FUZZ_SRC) $(CSRC) $(LDLIBS) -o $@

# The matrix: plant:barriers it is run with, under the incremental and the
# concurrent collector (the collectors that mark while mutators run). Left
# out, because barrier.c proves them harmless: hybrid without its insertion
# shade, and objects allocated white under the Dijkstra barrier;
# PLANTS_HARMLESS runs them, expecting no failure.
PLANTS := no_barrier:hybrid,dijkstra,yuasa hybrid_no_deletion:hybrid dijkstra_no_insertion:dijkstra \
          yuasa_no_deletion:yuasa roots_skip_last:hybrid,dijkstra,yuasa alloc_white:hybrid,yuasa \
          gbuf_no_flush:hybrid,dijkstra,yuasa
PLANTS_HARMLESS := hybrid_no_insertion:hybrid alloc_white:dijkstra
PLANT_NAMES := $(sort $(foreach p,$(PLANTS) $(PLANTS_HARMLESS),$(firstword $(subst :, ,$(p)))))
PLANT_BINS := $(addprefix $(BUILD)/fuzz-plant-,$(PLANT_NAMES))
PLANT_RUN := ops=3000000 cycles=0 race=20 time=300

# plant_matrix — $(1): the plants, $(2): all barriers or only the first,
# $(3): the seed. Each cell must fail (expect=fail); a table at the end.
define plant_matrix
	@missed=0; table=""; for cell in $(1); do p=$${cell%%:*}; bs=$${cell#*:}; \
	  [ "$(2)" = first ] && bs=$${bs%%,*}; \
	  for c in incremental concurrent; do for b in $$(echo $$bs | tr , ' '); do \
	    out=$$(./$(BUILD)/fuzz-plant-$$p config=$$c/$$b seed=$(3) $(PLANT_RUN) expect=fail 2>&1); rc=$$?; \
	    line=$$(echo "$$out" | grep '^fuzz' | head -1); \
	    if [ $$rc = 0 ]; then res="caught"; elif [ $$rc = 1 ]; then res="MISSED"; missed=1; \
	    else res="crashed($$rc)"; fi; \
	    table="$$table\n  $$p $$c/$$b: $$res after $$(echo "$$line" | awk '{print $$3, "ops,", $$(NF-4), "s"}')"; \
	    echo "$$out" | grep -v '^planted' | sed 's/^/    /'; \
	  done; done; done; \
	printf "planted-bug matrix:$$table\n"; exit $$missed
endef

# Allocation-failure injection: the core with -DTC_FAILPOINTS under ASan,
# LSan and UBSan (tests/c/fuzz_failpoints.c); the planted build runs only
# the checkmark test, whose cycle must then fail, not pass.
FAIL_SRC := tests/c/fuzz_failpoints.c tests/c/fuzz_failtests.c
FAIL_CFLAGS := $(CFLAGS_BASE) -O1 -g -DTC_FAILPOINTS -fsanitize=address,undefined -fno-sanitize-recover=undefined \
               -fno-omit-frame-pointer -Itests/c
FAIL_ENV := ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

$(BUILD)/failpoints: $(FAIL_SRC) $(CSRC) $(CHDR) $(TEST_C_HDR)
	@mkdir -p $(BUILD)
	$(CC) $(FAIL_CFLAGS) $(FAIL_SRC) $(CSRC) $(LDLIBS) -o $@

$(BUILD)/failpoints-planted: $(FAIL_SRC) $(CSRC) $(CHDR) $(TEST_C_HDR)
	@mkdir -p $(BUILD)
	$(CC) $(FAIL_CFLAGS) -DTC_PLANT=PLANT_NO_BARRIER $(FAIL_SRC) $(CSRC) $(LDLIBS) -o $@

test-fuzz: test-fuzz-short test-fuzz-tsan test-fuzz-planted test-failpoints

test-failpoints: $(BUILD)/failpoints $(BUILD)/failpoints-planted
	$(FAIL_ENV) ./$(BUILD)/failpoints-planted tests
	$(FAIL_ENV) ./$(BUILD)/failpoints tests
	$(FAIL_ENV) ./$(BUILD)/failpoints sweep

# The concurrent collector's threads allocate in a different order each
# run, so make fuzz sweeps it many times.
FAIL_REPEAT := 25
fuzz-failpoints: $(BUILD)/failpoints $(BUILD)/failpoints-planted
	$(FAIL_ENV) ./$(BUILD)/failpoints-planted tests
	$(FAIL_ENV) ./$(BUILD)/failpoints
	@for i in $$(seq $(FAIL_REPEAT)); do $(FAIL_ENV) ./$(BUILD)/failpoints sweep collector=concurrent || exit 1; done

# make test's forms: fixed seeds, a few seconds per configuration.
test-fuzz-short: $(BUILD)/fuzz
	./$(BUILD)/fuzz short seed=1

test-fuzz-tsan: $(BUILD)/fuzz_tsan
	TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" ./$(BUILD)/fuzz_tsan ops=6000 round-ops=6000 cycles=0 seed=1

test-fuzz-planted: $(PLANT_BINS)
	$(call plant_matrix,$(PLANTS),first,1)

# make fuzz: the long forms.
fuzz: $(BUILD)/fuzz $(PLANT_BINS)
	@start=$$(date +%s); \
	$(MAKE) --no-print-directory fuzz-correct FUZZ_SEED=$(FUZZ_SEED) && \
	$(MAKE) --no-print-directory fuzz-planted FUZZ_SEED=$(FUZZ_SEED) && \
	$(MAKE) --no-print-directory fuzz-failpoints; rc=$$?; \
	echo "make fuzz: $$(( $$(date +%s) - start )) s (seed $(FUZZ_SEED))"; exit $$rc

fuzz-correct: $(BUILD)/fuzz
	./$(BUILD)/fuzz seed=$(FUZZ_SEED) ops=10000000 cycles=100000

fuzz-planted: $(PLANT_BINS)
	$(call plant_matrix,$(PLANTS),all,$(FUZZ_SEED))
	@for cell in $(PLANTS_HARMLESS); do p=$${cell%%:*}; b=$${cell#*:}; for c in incremental concurrent; do \
	  ./$(BUILD)/fuzz-plant-$$p config=$$c/$$b seed=$(FUZZ_SEED) ops=1000000 cycles=0 race=20 || exit 1; \
	done; done; echo "harmless plants (barrier.c says why): no failure, as argued"
