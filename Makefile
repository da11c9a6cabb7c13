# PGXS build of the cacheaside extension.
#
#   make && make install          build and install against the pg_config on PATH
#   make PG_CONFIG=/path/pg_config
#   make COPT='-Wall -Wextra -Werror'   what scripts/test uses
#
# Tests (README.md, Development):
#   make installcheck          regression tests (sql/, expected/), isolation
#                              specs (test/specs/, test/expected/) against the
#                              running server, then the TAP tests
#   make installcheck TAP_TESTS=        the same without the TAP tests
#   make prove_installcheck    only the TAP tests (test/t/*.pl), which start
#                              their own servers and Redis
#   test/with-redis make installcheck EXTRA_REGRESS_OPTS=--temp-instance=./tmp_check
#                              self-contained: a throwaway Redis and instance
# scripts/test runs these, and the client, fuzz and valgrind suites.

EXTENSION = cacheaside
EXTVERSION = 1.3

MODULE_big = cacheaside
OBJS = \
	src/cacheaside.o \
	src/config.o \
	src/redis.o \
	src/keyspace.o \
	src/store.o \
	src/nearcache.o \
	src/tracker.o \
	src/fingerprint.o \
	src/codec.o \
	src/entry.o \
	src/query.o \
	src/untyped.o \
	src/privs.o \
	src/ledger.o \
	src/ledger_save.o \
	src/prepared.o \
	src/lockscan.o \
	src/writeset.o \
	src/ddl.o \
	src/commits.o \
	src/invalidations.o \
	src/patterns.o \
	src/validity.o \
	src/stats.o \
	src/flight.o \
	src/fill.o \
	src/cache_query.o \
	src/cache_admin.o \
	src/cache_status.o

DATA = cacheaside--1.0.sql cacheaside--1.0--1.1.sql cacheaside--1.1--1.2.sql cacheaside--1.2--1.3.sql
SHLIB_LINK = -lhiredis -llz4 -lzstd
PG_CPPFLAGS = -I$(srcdir)/src
# PostgreSQL's own headers and callback signatures have unused parameters:
# keep -Wextra useful (scripts/test builds with -Wall -Wextra -Werror).
PG_CFLAGS = -Wno-unused-parameter

REGRESS = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
ISOLATION = $(patsubst test/specs/%.spec,%,$(sort $(wildcard test/specs/*.spec)))
TAP_TESTS = 1
PROVE_TESTS = test/t/*.pl

# What a temporary instance (--temp-instance) needs: test/regress.conf
# (preloading, prepared transactions), and where Redis is, from the file
# test/with-redis names in CACHEASIDE_TEST_CONF.  A running server has these
# settings in its own postgresql.conf; pg_regress ignores --temp-config then.
test_temp_config = --temp-config=$(srcdir)/test/regress.conf \
	$(if $(CACHEASIDE_TEST_CONF),--temp-config=$(CACHEASIDE_TEST_CONF))
REGRESS_OPTS = $(test_temp_config)
# test databases in UTF8 with the C locale, whatever the server's defaults
ENCODING = UTF8
NO_LOCALE = 1
# the last --inputdir wins: specs and their expected output are under test/
ISOLATION_OPTS = --inputdir=$(srcdir)/test $(test_temp_config)

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# prove runs in $(srcdir); the tests' Perl modules are in test/perl.
# PROVE_FLAGS stays the user's (make prove_installcheck PROVE_FLAGS=-v).
PG_PROVE_FLAGS += -I test/perl

# the TAP tests alone (PGXS runs them within installcheck, after the others)
.PHONY: prove_installcheck
prove_installcheck:
	$(prove_installcheck)

# PGXS tracks no header dependencies: rebuild every object when a header
# changes, or a struct layout change leaves stale objects behind.
$(OBJS): $(wildcard $(srcdir)/src/*.h)
