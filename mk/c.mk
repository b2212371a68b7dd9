# C core tests: tests/c/*.c linked with the core into one runner whose last
# line is "N passed, N failed" (or, for a test hung past TC_TEST_SECONDS,
# "FAIL name [collector]: hung ...", and the runner killed: its watchdog).
TEST_C_SRC := $(filter-out tests/c/fuzz_%.c tests/c/planted_%.c,$(wildcard tests/c/*.c))
TEST_C_HDR := $(wildcard tests/c/tc_*.h)

$(BUILD)/test_c: $(TEST_C_SRC) $(TEST_C_HDR) $(BUILD)/libtricolor.a
	$(CC) $(CFLAGS) -Itests/c $(TEST_C_SRC) $(BUILD)/libtricolor.a $(LDLIBS) -o $@

test-c: $(BUILD)/test_c
	./$(BUILD)/test_c

# The core exports only its public API: every symbol the archive defines
# with default visibility is a TC_API function of tricolor.h (the internal
# headers declare the rest hidden: #pragma GCC visibility, heap.h). Then
# the two modules, binding, bindings/common and core in one shared object
# each: only their init function leaves it (nm -D).
test-exports: $(BUILD)/libtricolor.a
	@bad=$$(readelf -sW $< | awk '$$5=="GLOBAL" && $$6=="DEFAULT" && $$7!="UND" {print $$8}' | sort -u | \
	  while read s; do grep -q "TC_API.*[ *]$$s(" csrc/include/tricolor.h || echo $$s; done); \
	if [ -n "$$bad" ]; then echo "test-exports: exported but not TC_API:" $$bad; exit 1; fi; \
	echo "test-exports: the core exports only TC_API functions"
	@$(MAKE) --no-print-directory py-build lua-build
	@for m in bindings/python/tricolor/_tricolor*.so:PyInit__tricolor $(BUILD)/lua/tricolor.so:luaopen_tricolor; do \
	  f=$${m%%:*}; want=$${m##*:}; \
	  got=$$(nm -D --defined-only $$f | awk '$$2 ~ /^[TDRBGS]$$/ {print $$3}' | sort -u | tr '\n' ' '); \
	  test "$$got" = "$$want " || { echo "test-exports: $$f exports '$$got', want only $$want"; exit 1; }; \
	done; \
	echo "test-exports: the modules export only PyInit__tricolor and luaopen_tricolor (bindings/common included)"

# A planted bug is caught only by the failure expected of it (tests/c/caught.sh:
# the named test's FAIL line, or a sanitizer's report), never by an exit
# status alone: a build that crashes for another reason is no catch.
CAUGHT := tests/c/caught.sh

# The planted-bug build: the core without any barrier shade. Only the
# barrier test runs against it, and it must see checkmark fire.
$(BUILD)/test_planted: $(CSRC) $(CHDR) tests/c/test_barrier.c tests/c/runner.c $(TEST_C_HDR)
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS) -DTC_PLANT=PLANT_NO_BARRIER -Itests/c $(CSRC) tests/c/runner.c tests/c/test_barrier.c $(LDLIBS) -o $@

test-planted: $(BUILD)/test_planted $(BUILD)/test_planted_scav $(BUILD)/test_planted_locals $(BUILD)/test_planted_listed $(BUILD)/test_planted_ack $(BUILD)/test_planted_seq $(BUILD)/test_planted_black $(BUILD)/test_planted_request \
              $(BUILD)/test_planted_ring $(BUILD)/planted_runner
	@$(CAUGHT) "test-planted: planted NO_BARRIER (checkmark fires in every barrier test)" \
	  '^[1-9][0-9]* passed, 0 failed$$' ./$(BUILD)/test_planted barrier
	@TC_TEST_SECONDS=2 $(CAUGHT) "test-planted: the runner's planted hang" \
	  '^FAIL a_test_that_never_ends \[.*hung' timeout 60 ./$(BUILD)/planted_runner never_ends
	@if $(CAUGHT) "test-planted: the runner's crash of its own" '^FAIL a_test_that_never_ends \[' \
	  ./$(BUILD)/planted_runner crash_of_its_own >/dev/null 2>&1; then \
	  echo "test-planted: the judgement took planted_runner's crash of its own for a catch"; exit 1; \
	else echo "test-planted: the runner's crash of its own is no catch (tests/c/caught.sh)"; fi
	@$(CAUGHT) "test-planted: planted SCAV_STAYS_FREE" \
	  '^FAIL a_page_freed_beside_a_piece_in_flight_stays_apart \[' ./$(BUILD)/test_planted_scav beside_a_piece
	@$(CAUGHT) "test-planted: planted STOP_DROPS_LOCALS" \
	  '^FAIL pause_keeps_an_idle_threads_locals \[' ./$(BUILD)/test_planted_locals idle_threads_locals
	@$(CAUGHT) "test-planted: planted ENTRY_SKIPS_LISTED" \
	  '^FAIL pause_sees_a_thread_dropped_while_it_listed_itself \[' ./$(BUILD)/test_planted_listed dropped_while_it_listed
	@$(CAUGHT) "test-planted: planted STW_STALE_ACK" \
	  '^FAIL a_stale_acknowledgement_does_not_stop_a_running_mutator \[' ./$(BUILD)/test_planted_ack stale_acknowledgement
	@$(CAUGHT) "test-planted: planted ACK_SEQ_LATE" \
	  '^FAIL a_late_ack_does_not_take_the_next_pauses_number \[' ./$(BUILD)/test_planted_seq late_ack
	@$(CAUGHT) "test-planted: planted BLACK_UNFLAGGED" \
	  '^FAIL allocated_black_and_dropped_is_freed_by_the_next_cycle \[' ./$(BUILD)/test_planted_black dropped_is_freed_by_the_next
	@$(CAUGHT) "test-planted: planted REQUEST_ACTIVE" \
	  '^FAIL pause_does_not_wait_for_a_cycle_request \[' ./$(BUILD)/test_planted_request wait_for_a_cycle_request
	@$(CAUGHT) "test-planted: planted RING_FLUSH_DROPS" \
	  '^FAIL a_tree_survives_the_marker_changing_its_ring_depth \[' ./$(BUILD)/test_planted_ring ring_depth

# world_stop dropping an idle mutator that holds locals (plant.h): its
# local's object is swept, and the test must fail.
$(BUILD)/test_planted_locals: $(CSRC) $(CHDR) tests/c/test_pause.c tests/c/runner.c $(TEST_C_HDR)
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS) -DTC_PLANT=PLANT_STOP_DROPS_LOCALS -Itests/c $(CSRC) tests/c/runner.c tests/c/test_pause.c $(LDLIBS) -o $@

# the entry check that does not read `listed` after stw (plant.h): a thread
# dropped between its push and its active = 1 runs unlisted, and the test
# must fail.
$(BUILD)/test_planted_listed: $(CSRC) $(CHDR) tests/c/test_pause.c tests/c/runner.c $(TEST_C_HDR)
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS) -DTC_PLANT=PLANT_ENTRY_SKIPS_LISTED -Itests/c $(CSRC) tests/c/runner.c tests/c/test_pause.c $(LDLIBS) -o $@

# world_stop taking an older pause's acknowledgement (plant.h): it returns
# while a mutator is still inside its heap call, and the test must fail.
$(BUILD)/test_planted_ack: $(CSRC) $(CHDR) tests/c/test_pause.c tests/c/runner.c $(TEST_C_HDR)
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS) -DTC_PLANT=PLANT_STW_STALE_ACK -Itests/c $(CSRC) tests/c/runner.c tests/c/test_pause.c $(LDLIBS) -o $@

# the marker dropping its prefetch ring's candidates when it turns to a
# depth-first stretch (plant.h, drain.c's rings_flush): subtrees are freed,
# and the test must fail.
$(BUILD)/test_planted_ring: $(CSRC) $(CHDR) tests/c/test_heap.c tests/c/runner.c $(TEST_C_HDR)
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS) -DTC_PLANT=PLANT_RING_FLUSH_DROPS -Itests/c $(CSRC) tests/c/runner.c tests/c/test_heap.c $(LDLIBS) -o $@

# set_black without the span's black flag (plant.h): the sweep does not
# read the black bits, frees what was allocated black, and the test must fail.
$(BUILD)/test_planted_black: $(CSRC) $(CHDR) tests/c/test_alloc.c tests/c/runner.c $(TEST_C_HDR)
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS) -DTC_PLANT=PLANT_BLACK_UNFLAGGED -Itests/c $(CSRC) tests/c/runner.c tests/c/test_alloc.c $(LDLIBS) -o $@

# the acknowledgement reading stw before stw_seq (plant.h): it takes the
# next pause's number, that stop runs beside it, and the test must fail.
$(BUILD)/test_planted_seq: $(CSRC) $(CHDR) tests/c/test_pause.c tests/c/runner.c $(TEST_C_HDR)
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS) -DTC_PLANT=PLANT_ACK_SEQ_LATE -Itests/c $(CSRC) tests/c/runner.c tests/c/test_pause.c $(LDLIBS) -o $@

# the runner's own planted bugs (tests/c/planted_runner.c): a hang its
# watchdog must name, a crash the judgement must not take for a catch.
$(BUILD)/planted_runner: tests/c/planted_runner.c tests/c/runner.c $(TEST_C_HDR) $(BUILD)/libtricolor.a
	$(CC) $(CFLAGS) -Itests/c tests/c/planted_runner.c tests/c/runner.c $(BUILD)/libtricolor.a $(LDLIBS) -o $@

# a request for a cycle made active (plant.h): the stop waits for the
# requester to come back from it, and the test must fail.
$(BUILD)/test_planted_request: $(CSRC) $(CHDR) tests/c/test_pause.c tests/c/runner.c $(TEST_C_HDR)
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS) -DTC_PLANT=PLANT_REQUEST_ACTIVE -Itests/c $(CSRC) tests/c/runner.c tests/c/test_pause.c $(LDLIBS) -o $@

# The scavenger's piece in flight left SPAN_FREE (plant.h): a page freed
# beside it merges into it, and the test must fail.
$(BUILD)/test_planted_scav: $(CSRC) $(CHDR) tests/c/test_scavenge.c tests/c/runner.c $(TEST_C_HDR)
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS) -DTC_PLANT=PLANT_SCAV_STAYS_FREE -Itests/c $(CSRC) tests/c/runner.c tests/c/test_scavenge.c $(LDLIBS) -o $@

# The debug build (TC_DEBUG, csrc/debug.h): TC_ASSERT traps, every heap
# lock is taken through the lock-order check, and check.c's checkers run at
# every pause. The whole C suite runs against it, at the release build's -O2
# (timing-sensitive tests, such as the memory limit's, see the same speed).
$(BUILD)/test_c_debug: $(CSRC) $(TEST_C_SRC) $(CHDR) tests/c/tc_test.h
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS_BASE) $(OPT) -DTC_DEBUG -Itests/c $(CSRC) $(TEST_C_SRC) $(LDLIBS) -o $@

test-debug: $(BUILD)/test_c_debug
	./$(BUILD)/test_c_debug

# Sanitizer builds of the core and its tests (no suppressions). TSan needs
# the seq_cst fallback of the handshake (it does not model membarrier).
SAN_SRC := $(CSRC) $(TEST_C_SRC)

$(BUILD)/test_c_tsan: $(SAN_SRC) $(CHDR) $(TEST_C_HDR)
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS_BASE) -O1 -g -fsanitize=thread -DTC_NO_MEMBARRIER -Itests/c $(SAN_SRC) $(LDLIBS) -o $@

$(BUILD)/test_c_asan: $(SAN_SRC) $(CHDR) $(TEST_C_HDR)
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS_BASE) -O1 -g -fsanitize=address,undefined -fno-sanitize=object-size -fno-sanitize-recover=undefined -fno-omit-frame-pointer -Itests/c $(SAN_SRC) $(LDLIBS) -o $@

# test-tsan runs through tests/san/reports.sh too, so a forked child's race
# report fails the run; its check is a child whose race is hidden from both.
test-tsan: $(BUILD)/test_c_tsan $(BUILD)/test_replay_planted_tsan $(BUILD)/san_planted_race_child
	TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" tests/san/reports.sh $(BUILD)/san/tsan ./$(BUILD)/test_c_tsan
	@TSAN_OPTIONS="halt_on_error=1" $(CAUGHT) "test-tsan: the planted race in a silent child (tests/san/planted_race_child.c)" \
	  'WARNING: ThreadSanitizer: data race' tests/san/reports.sh $(BUILD)/san/planted_race ./$(BUILD)/san_planted_race_child
	@TSAN_OPTIONS="halt_on_error=1" $(CAUGHT) "test-tsan: planted REC_NO_REVOKE_WAIT (record_owner_hands_over_to_a_second_thread)" \
	  'WARNING: ThreadSanitizer: data race' ./$(BUILD)/test_replay_planted_tsan record_owner

# The recorder's owner path with its planted bug (plant.h): a revoke that does
# not wait for the owner's record. The handover test must make TSan report it.
$(BUILD)/test_replay_planted_tsan: $(CSRC) $(CHDR) tests/c/test_replay.c tests/c/runner.c $(TEST_C_HDR)
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS_BASE) -O1 -g -fsanitize=thread -DTC_NO_MEMBARRIER -DTC_PLANT=PLANT_REC_NO_REVOKE_WAIT -Itests/c \
	  $(CSRC) tests/c/runner.c tests/c/test_replay.c $(LDLIBS) -o $@

# The ASan run also takes the strict-commit path (arenas PROT_NONE, each
# step committed with mprotect: platform.c); the other runs map read-write.
# tests/san/reports.sh writes every process's ASan report to a file and
# fails the run if one was written (a forked child's report is no longer lost
# with its stderr or exit status); its own check, a child whose overflow is
# hidden from both, must fail under it.
test-asan: $(BUILD)/test_c_asan $(BUILD)/san_planted_child $(BUILD)/san_planted_ub_child
	ASAN_OPTIONS="detect_leaks=1" TRICOLOR_STRICT_COMMIT=1 tests/san/reports.sh $(BUILD)/san/c ./$(BUILD)/test_c_asan
	@$(CAUGHT) "test-asan: the planted overflow in a silent child (tests/san/planted_child.c)" \
	  'ERROR: AddressSanitizer: heap-buffer-overflow' tests/san/reports.sh $(BUILD)/san/planted ./$(BUILD)/san_planted_child
	@$(CAUGHT) "test-asan: the planted signed overflow in a silent child (tests/san/planted_ub_child.c)" \
	  'planted_ub_child.c:[0-9]+' tests/san/reports.sh $(BUILD)/san/planted_ub ./$(BUILD)/san_planted_ub_child

$(BUILD)/san_planted_race_child: tests/san/planted_race_child.c
	@mkdir -p $(BUILD)
	$(CC) -O1 -g -fsanitize=thread -pthread tests/san/planted_race_child.c -o $@

$(BUILD)/san_planted_ub_child: tests/san/planted_ub_child.c
	@mkdir -p $(BUILD)
	$(CC) -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined tests/san/planted_ub_child.c -o $@

$(BUILD)/san_planted_child: tests/san/planted_child.c
	@mkdir -p $(BUILD)
	$(CC) -O1 -g -fsanitize=address tests/san/planted_child.c -o $@
