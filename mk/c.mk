# C core tests: tests/c/*.c linked with the core into one runner whose last
# line is "N passed, N failed".
TEST_C_SRC := $(wildcard tests/c/*.c)

$(BUILD)/test_c: $(TEST_C_SRC) tests/c/tc_test.h $(BUILD)/libtricolor.a
	$(CC) $(CFLAGS) -Itests/c $(TEST_C_SRC) $(BUILD)/libtricolor.a $(LDLIBS) -o $@

test-c: $(BUILD)/test_c
	./$(BUILD)/test_c

# The planted-bug build: the core without any barrier shade. Only the
# barrier test runs against it, and it must see checkmark fire.
$(BUILD)/test_planted: $(CSRC) $(CHDR) tests/c/test_barrier.c tests/c/runner.c tests/c/tc_test.h
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS) -DTC_PLANT_NO_BARRIER -Itests/c $(CSRC) tests/c/runner.c tests/c/test_barrier.c $(LDLIBS) -o $@

test-planted: $(BUILD)/test_planted
	./$(BUILD)/test_planted barrier
