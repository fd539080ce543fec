# Makefile for the ame extension (PGXS)

MODULE_big = ame
OBJS = \
	$(WIN32RES) \
	src/ame.o \
	src/identity.o \
	src/normalize.o \
	src/rowcompare.o \
	src/timestamps.o

EXTENSION = ame
DATA = ame--1.0.sql
PGFILEDESC = "ame - field-service data layer"

REGRESS = install schema identity normalize updated_at views trigger_misuse \
	search_path other_schema uninstall
REGRESS_OPTS = --inputdir=. --outputdir=.
ISOLATION = customer_number
ISOLATION_OPTS = --inputdir=. --outputdir=output_iso

# Our code must build cleanly with -Wall -Wextra; PostgreSQL's own headers
# trip -Wunused-parameter, so that one (and only that one) is silenced.
PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter

EXTRA_CLEAN = results output_iso regression.diffs regression.out

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)
