# Makefile for the ame extension (PGXS)

MODULE_big = ame
OBJS = \
	$(WIN32RES) \
	src/ame.o \
	src/audit.o \
	src/audit_history.o \
	src/audit_image.o \
	src/audit_jsonb.o \
	src/audit_log.o \
	src/audit_partition.o \
	src/audit_redact.o \
	src/audit_writer.o \
	src/identity.o \
	src/json_check.o \
	src/normalize.o \
	src/realtime.o \
	src/rowcompare.o \
	src/service_levels.o \
	src/sessions.o \
	src/timestamps.o \
	src/workflow.o \
	src/csv_parser.o \
	src/import_csv.o \
	src/import_chunked.o

EXTENSION = ame
# the current version's install script is assembled from the pieces in
# src/sql/, one per area; released versions' scripts are kept as they were,
# with the upgrade scripts from each to the next
DATA_built = ame--2.0.sql
DATA = ame--1.0.sql ame--1.0--1.1.sql ame--1.1.sql ame--1.1--1.2.sql ame--1.2.sql ame--1.2--1.3.sql ame--1.3.sql ame--1.3--1.4.sql ame--1.4.sql ame--1.4--2.0.sql
PGFILEDESC = "ame - field-service data layer"

# pg_regress: install first and uninstall last; each area's files between
REGRESS_CORE = schema fk_restrict identity normalize updated_at views trigger_misuse settings \
	search_path other_schema
REGRESS_WORKFLOW = workflow service_levels
REGRESS_SESSIONS = sessions cleanup rls realtime realtime_rls realtime_bulk realtime_mute realtime_cleanup cron
REGRESS_AUDIT = audit audit_history audit_history_rls audit_batch audit_restore audit_reentry \
	audit_log_shape audit_partitions audit_exclude audit_redact audit_partition_collation
REGRESS_IMPORT = import_csv import_quoting import_ragged import_encoding \
	import_field_size import_duplicates import_header import_devices \
	import_file import_privileges import_triggers import_chunked import_chunked_lock import_chunked_deferred
REGRESS = install $(REGRESS_CORE) $(REGRESS_WORKFLOW) $(REGRESS_AUDIT) $(REGRESS_SESSIONS) $(REGRESS_IMPORT) uninstall
REGRESS_OPTS = --inputdir=. --outputdir=.
ISOLATION = customer_number session_cleanup audit_chain import_progress visit_workflow
ISOLATION_OPTS = --inputdir=. --outputdir=output_iso

# Our code must build cleanly with -Wall -Wextra; PostgreSQL's own headers
# trip -Wunused-parameter, so that one (and only that one) is silenced.
PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter

EXTRA_CLEAN = results output_iso regression.diffs regression.out .built-for

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS tracks no header dependencies: a changed private header (a struct
# of audit.h, say) must rebuild every object, or a stale one would read
# the old layout
$(filter src/%.o,$(OBJS)): $(wildcard src/*.h)

ame--2.0.sql: $(sort $(wildcard src/sql/*.sql))
	cat $^ > $@

# Deeper checks, not part of the default test command (each takes minutes):
# the regression tests under valgrind, a bounded sqlsmith run, and the Debian
# package built and installed on a clean system (PACKAGE_MAJORS: which majors;
# 17 and 18 build in the chroots of scripts/pg-chroot.sh).
PACKAGE_MAJORS ?= 15
.PHONY: valgrind-check sqlsmith-check package-check
valgrind-check:
	bash scripts/valgrind.sh
sqlsmith-check:
	bash scripts/sqlsmith.sh
package-check:
	bash scripts/package-test.sh $(PACKAGE_MAJORS)

# The tree is shared with the chroots of other majors (scripts/pg-chroot.sh):
# objects built against another major's headers are stale, though make would
# think them up to date.  .built-for names the major they were built for; it
# is rewritten (and so rebuilds them) only when the major changes.
$(OBJS) $(patsubst %.o,%.bc,$(OBJS)): .built-for
.built-for: check-built-for
	@echo $(MAJORVERSION) | cmp -s - $@ || echo $(MAJORVERSION) > $@
.PHONY: check-built-for
