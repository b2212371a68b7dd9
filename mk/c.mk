# C core tests: tests/c/*.c linked with the core into one runner whose last
# line is "N passed, N failed".
TEST_C_SRC := $(wildcard tests/c/*.c)

$(BUILD)/test_c: $(TEST_C_SRC) tests/c/tc_test.h $(BUILD)/libtricolor.a
	$(CC) $(CFLAGS) -Itests/c $(TEST_C_SRC) $(BUILD)/libtricolor.a $(LDLIBS) -o $@

test-c: $(BUILD)/test_c
	./$(BUILD)/test_c
