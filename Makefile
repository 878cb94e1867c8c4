# tbdr: PostgreSQL extension (tbdr.so) and command-line program (tbdr),
# built from one backend-neutral core (src/core) with PGXS.
#
#   make              build tbdr.so, the tbdr program and the unit tests
#   make install      install both into PostgreSQL's directories
#   make test         every test (unit, pg_regress, TAP); see test/run-tests
#   make demo         the quick start, end to end, on loopback
#   make bench        benchmarks against pgBackRest (not tests)
#   make fuzz         libFuzzer harnesses of the parsers (fuzz/fuzz.mk)

EXTENSION = tbdr
MODULE_big = tbdr
DATA = sql/tbdr--0.1.sql
PGFILEDESC = "tbdr - continuous PostgreSQL backup to S3"

CORE_SRCS := $(sort $(wildcard src/core/*.c))
BACKEND_SRCS := $(sort $(wildcard src/backend/*.c))
CLI_SRCS := $(sort $(wildcard src/cli/*.c))
UNIT_SRCS := $(sort $(wildcard test/unit/test_*.c))

OBJS = $(CORE_SRCS:.c=.o) $(BACKEND_SRCS:.c=.o)

TBDR_LIBS = -lcurl -lzstd -lcrypto -lexpat
# -Wextra on top of PostgreSQL's warning set; the disabled ones are noise
# from PostgreSQL's own headers and from callback signatures.
TBDR_WARNINGS = -Wextra -Wno-unused-parameter -Wno-missing-field-initializers \
	-Wno-sign-compare -Wno-cast-function-type
PG_CPPFLAGS = -I$(srcdir)/src
PG_CFLAGS = $(TBDR_WARNINGS)
SHLIB_LINK = $(TBDR_LIBS)

# pg_regress runs against a temporary instance with tbdr preloaded (PGXS
# refuses "make check" for extensions, so installcheck carries the options).
REGRESS = $(patsubst sql/%.sql,%,$(filter-out sql/tbdr--%,$(sort $(wildcard sql/*.sql))))
REGRESS_OUTPUTDIR ?= .
REGRESS_OPTS = --temp-instance=$(REGRESS_OUTPUTDIR)/tmp_check_regress \
	--temp-config=$(srcdir)/test/regress.conf \
	--outputdir=$(REGRESS_OUTPUTDIR) --port=$(REGRESS_PORT)
REGRESS_PORT ?= 65432

EXTRA_CLEAN = build results regression.diffs regression.out tmp_check tmp_check_regress log

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# ---------------------------------------------------------------------------
# The frontend build: the same core sources with -DFRONTEND, plus the CLI.
# ---------------------------------------------------------------------------
FE_CORE_OBJS = $(patsubst src/core/%.c,build/fe/core/%.o,$(CORE_SRCS))
FE_CLI_OBJS = $(patsubst src/cli/%.c,build/fe/cli/%.o,$(CLI_SRCS))
# libpgcommon.a and libpgport.a: Debian installs them in pkglibdir, a build
# from PostgreSQL's own configure in libdir.
FE_LIBS = -L$(pkglibdir) -L$(libdir) -lpgcommon -lpgport $(TBDR_LIBS) -lpthread -lm
UNIT_BINS = $(patsubst test/unit/%.c,build/test/%,$(UNIT_SRCS))
FE_CFLAGS = $(filter-out $(CFLAGS_SL),$(CFLAGS)) $(TBDR_WARNINGS)
# libpq: tbdr restore-wait asks the restored server how its recovery went
CLI_LIBS = -L$(libdir) -lpq

build/fe/%.o: src/%.c $(wildcard src/*/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(FE_CFLAGS) -DFRONTEND $(CPPFLAGS) -I$(includedir) -c -o $@ $<

build/libtbdrcore_fe.a: $(FE_CORE_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@
	$(AR) crs $@ $^

build/tbdr: $(FE_CLI_OBJS) build/libtbdrcore_fe.a
	$(CC) $(FE_CFLAGS) -o $@ $(FE_CLI_OBJS) build/libtbdrcore_fe.a $(LDFLAGS) $(CLI_LIBS) $(FE_LIBS)

build/test/%: test/unit/%.c test/unit/tap.h build/libtbdrcore_fe.a
	@mkdir -p $(dir $@)
	$(CC) $(FE_CFLAGS) -DFRONTEND $(CPPFLAGS) -I$(srcdir)/test/unit -o $@ $< build/libtbdrcore_fe.a $(LDFLAGS) $(FE_LIBS)

# Not tests, built by the rule above: sigv4_dump signs requests for the
# botocore cross-check (test/unit/sigv4_botocore.py); s3_tool drives the
# storage layer for the TAP tests (test/t/010_s3_storage.pl); walsum_tool
# prints WAL segment summaries (test/t/057_restore_histories.pl).
UNIT_TOOLS = build/test/sigv4_dump build/test/s3_tool build/test/walsum_tool

# Backend objects depend on the headers too (PGXS does not track them).
$(OBJS): $(wildcard src/*/*.h)

# Objects are built for one PostgreSQL major version at a time: the stamp
# names it, so building with another PG_CONFIG in the same tree rebuilds
# everything instead of linking objects of two versions together.
PG_MAJOR := $(shell $(PG_CONFIG) --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')
PG_MAJOR_STAMP = build/pg-major-$(PG_MAJOR)
$(PG_MAJOR_STAMP):
	@rm -f build/pg-major-*
	@mkdir -p build
	@touch $@
$(OBJS) $(FE_CORE_OBJS) $(FE_CLI_OBJS) $(UNIT_BINS) $(UNIT_TOOLS): $(PG_MAJOR_STAMP)

all: build/tbdr $(UNIT_BINS) $(UNIT_TOOLS)

install: install-cli
install-cli: build/tbdr
	$(MKDIR_P) '$(DESTDIR)$(bindir)'
	$(INSTALL_PROGRAM) build/tbdr '$(DESTDIR)$(bindir)/tbdr'
uninstall: uninstall-cli
uninstall-cli:
	rm -f '$(DESTDIR)$(bindir)/tbdr'

.PHONY: test demo bench install-cli uninstall-cli unit
unit: $(UNIT_BINS)

# Every installed PostgreSQL version (Debian's pg_config and the builds of
# .ci/build-pg), or only the one PG_CONFIG names.
ifeq ($(origin PG_CONFIG),file)
TEST_VERSIONS = --all-versions
else
TEST_VERSIONS = --pg-config=$(PG_CONFIG)
endif
test:
	bash test/run-tests $(TEST_VERSIONS)

demo:
	bash test/demo

bench:
	bash bench/run

# Fuzzing: its own file, so that its rules stay apart from the build's.
include fuzz/fuzz.mk
$(FUZZ_CORE_OBJS) $(FUZZ_BINS): $(PG_MAJOR_STAMP)
