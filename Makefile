# tricolor — top-level build. `make demo`, `make test`, `make bench` set up what
# is missing on a fresh Debian machine, build, and run.
# Each binding / benchmark area adds its targets in mk/*.mk.

CC      ?= gcc
PYTHON  ?= python3
BUILD   := build
CSRC    := $(wildcard csrc/*.c)
CHDR    := $(wildcard csrc/*.h csrc/include/*.h)
CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -pthread -Icsrc/include -Icsrc -fPIC
OPT     ?= -O2 -g
CFLAGS  := $(CFLAGS_BASE) $(OPT)
LDLIBS  := -lpthread -lm

.PHONY: all lib setup demo test bench clean test-c
all: lib

lib: $(BUILD)/libtricolor.a

$(BUILD)/obj/%.o: csrc/%.c $(CHDR)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libtricolor.a: $(patsubst csrc/%.c,$(BUILD)/obj/%.o,$(CSRC))
	@mkdir -p $(dir $@)
	ar rcs $@ $^

include $(wildcard mk/*.mk)

clean:
	rm -rf $(BUILD) bindings/python/tricolor/*.so bindings/python/build
