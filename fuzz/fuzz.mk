# ---------------------------------------------------------------------------
# Fuzzing (docs/DEVELOPING.md, "Fuzzing"): libFuzzer harnesses, one per parser, built with
# clang's AddressSanitizer and UndefinedBehaviorSanitizer against the
# frontend core compiled with the same sanitizers.  Included by the Makefile.
#
#   make fuzz            run every harness FUZZ_SECONDS (default 60) each
#   make fuzz FUZZ_TARGETS="tar codec" FUZZ_SECONDS=300
#   make fuzz-replay     replay fuzz/corpus/ once (TAP; part of make test)
#   make fuzz-build      only build build/fuzz/fuzz_*
# ---------------------------------------------------------------------------
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_SANITIZE = -fsanitize=address,undefined -fno-sanitize-recover=undefined
# -U_FORTIFY_SOURCE: PGXS's CPPFLAGS set it, and ASan checks what it would.
FUZZ_CFLAGS = -g -O1 -fno-omit-frame-pointer $(FUZZ_SANITIZE) \
	-Wall -Wno-unused-command-line-argument -Wno-compound-token-split-by-macro -Wno-ignored-attributes \
	-DFRONTEND $(CPPFLAGS) -U_FORTIFY_SOURCE
FUZZ_HARNESS_SRCS := $(sort $(wildcard fuzz/fuzz_*.c))
FUZZ_BINS = $(patsubst fuzz/%.c,build/fuzz/%,$(FUZZ_HARNESS_SRCS))
FUZZ_CORE_OBJS = $(patsubst src/core/%.c,build/fuzz/core/%.o,$(CORE_SRCS))

build/fuzz/core/%.o: src/core/%.c $(wildcard src/*/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

build/fuzz/libtbdrcore.a: $(FUZZ_CORE_OBJS)
	rm -f $@
	$(AR) crs $@ $^

build/fuzz/fuzz_%: fuzz/fuzz_%.c fuzz/fuzz.h build/fuzz/libtbdrcore.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< \
		build/fuzz/libtbdrcore.a $(LDFLAGS) $(FE_LIBS)

.PHONY: fuzz fuzz-build fuzz-replay
fuzz-build: $(FUZZ_BINS)

fuzz: fuzz-build
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_TARGETS="$(FUZZ_TARGETS)" bash fuzz/run

fuzz-replay: fuzz-build
	bash fuzz/replay
