# flov7: one entry point.
#   make            build flov7.so (PGXS) and frontd
#   make install    install the extension into PostgreSQL 15
#   make run        packages + build + install + private cluster under .run/ + frontd on 127.0.0.1:8000
#   make stop       stop what `make run` started
#   make test       everything, in a throwaway cluster; non-zero exit on any failure
#   make bench      frontd against pgbench, side by side (bench/RESULTS.md)
#   make bench-engine  the workflow engine's workers against graphile-worker, side by side (bench/RESULTS.md)
#   make bench-realtime  frontd's WebSocket fan-out against Node (pg LISTEN + ws), side by side (bench/RESULTS.md)
#   make bench-lists  lists at 1 000 000 rows of one user and 100 000 users, through frontd (bench/RESULTS.md)
#   make fault-loop the fault suite 20 times in a row per frontd build (N=20), plain and ASan
#   make fuzz       every libFuzzer target (test/fuzz) for FUZZ_SECONDS each (default 120)

EXTENSION  = flov7
EXTVERSION = $(shell sed -n "s/^default_version *= *'\(.*\)'/\1/p" flov7.control)
PG_CONFIG ?= /usr/lib/postgresql/15/bin/pg_config

MODULE_big = flov7
OBJS       = $(patsubst %.c,%.o,$(sort $(wildcard extension/*.c)))
DATA_built = sql/$(EXTENSION)--$(EXTVERSION).sql
DATA       = $(filter-out $(DATA_built),$(wildcard sql/$(EXTENSION)--*.sql))
PG_CFLAGS  = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare
SHLIB_LINK = -lcrypto
EXTRA_CLEAN = $(DATA_built)

# As a user other than root (a developer's machine), the install steps of run, test and bench go
# through sudo, with this pg_config (sudo drops the environment); the build, the cluster and
# frontd stay the user's.
FLOV7_SUDO := $(shell [ "$$(id -u)" -ne 0 ] && echo sudo)
FLOV7_INSTALL = $(FLOV7_SUDO) $(MAKE) install PG_CONFIG=$(PG_CONFIG)

# The install script is assembled from sql/parts/ in name order.
SQL_PARTS = $(sort $(wildcard sql/parts/*.sql))

.PHONY: all deps frontd run stop test bench bench-engine bench-realtime bench-lists unit fault-loop fuzz

# `deps` must run before PGXS is read when pg_config is missing, so it is a separate make invocation.
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(wildcard $(PGXS)),)
include $(PGXS)
else
all install:
	@bash test/deps.sh
	@$(MAKE) $@
endif

all: frontd

$(DATA_built): $(SQL_PARTS) flov7.control
	@echo "-- flov7 $(EXTVERSION): generated from sql/parts/ by make; edit the parts" > $@.tmp
	@printf '%s\n' '\echo Use "CREATE EXTENSION flov7" to load this file. \quit' >> $@.tmp
	@for f in $(SQL_PARTS); do printf '\n-- ---- %s ----\n' "$$f" >> $@.tmp; cat "$$f" >> $@.tmp; done
	@mv $@.tmp $@

frontd:
	$(MAKE) -C frontd

deps:
	@bash test/deps.sh

run: deps
	$(MAKE) all
	$(FLOV7_INSTALL)
	@bash test/pgcluster.sh run

stop:
	@bash test/pgcluster.sh stop

test: deps
	$(MAKE) all
	$(FLOV7_INSTALL)
	@bash test/run.sh

unit:
	$(MAKE) -C frontd unit

N ?= 20
fault-loop: deps
	$(MAKE) all
	$(FLOV7_INSTALL)
	$(MAKE) -C frontd asan
	@bash test/fault/loop.sh $(N)

FUZZ_SECONDS ?= 120
fuzz: deps
	$(MAKE) -C test/fuzz run FUZZ_SECONDS=$(FUZZ_SECONDS)

bench: deps
	$(MAKE) all
	$(FLOV7_INSTALL)
	@bash bench/run.sh

bench-engine: deps
	$(MAKE) all
	$(FLOV7_INSTALL)
	@bash bench/engine.sh

bench-realtime: deps
	$(MAKE) all
	$(FLOV7_INSTALL)
	@bash bench/realtime.sh

bench-lists: deps
	$(MAKE) all
	$(FLOV7_INSTALL)
	@bash bench/lists.sh

clean: clean-frontd
clean-frontd:
	$(MAKE) -C frontd clean
	$(MAKE) -C test/fuzz clean
