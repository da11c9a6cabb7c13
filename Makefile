# PGXS build of the cacheaside extension.
#
#   make && make install          build and install against the pg_config on PATH
#   make PG_CONFIG=/path/pg_config
#   make COPT='-Wall -Wextra -Werror'   what scripts/test uses
#
# The test suites need a running Redis; scripts/test starts one and runs
# every suite. See README.md.

EXTENSION = cacheaside
EXTVERSION = 1.1

MODULE_big = cacheaside
OBJS = \
	src/cacheaside.o \
	src/config.o \
	src/redis.o \
	src/keyspace.o \
	src/store.o \
	src/fingerprint.o \
	src/entry.o \
	src/query.o \
	src/privs.o \
	src/ledger.o \
	src/prepared.o \
	src/lockscan.o \
	src/writeset.o \
	src/commits.o \
	src/validity.o \
	src/fill.o \
	src/cache_query.o \
	src/cache_admin.o

DATA = cacheaside--1.0.sql cacheaside--1.0--1.1.sql
SHLIB_LINK = -lhiredis
PG_CPPFLAGS = -I$(srcdir)/src
# PostgreSQL's own headers and callback signatures have unused parameters:
# keep -Wextra useful (scripts/test builds with -Wall -Wextra -Werror).
PG_CFLAGS = -Wno-unused-parameter

REGRESS = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS tracks no header dependencies: rebuild every object when a header
# changes, or a struct layout change leaves stale objects behind.
$(OBJS): $(wildcard $(srcdir)/src/*.h)
