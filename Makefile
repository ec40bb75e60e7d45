# trainfs - build, test, demo, bench, install.
#
#   make                      build ./trainfs and the tools
#   make test                 install what is missing, build, run every test
#   make demo                 install, build, mount ./mnt, run an example job
#   make bench                measure, write BENCHMARKS.md
#   make bench-search         sweep methods beside Optuna's TPE (a table)
#   make SANITIZE=address,undefined test    the same under sanitizers
#   make install PREFIX=/usr/local

CC ?= cc
PREFIX ?= /usr/local
# trainfs's version: said by `trainfs --version` and checked against the
# man page by tests/fs/t_conventions.sh
VERSION = 0.1
SANITIZE ?=
PKGS = fuse3 libcurl libcjson sqlite3 openssl

CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 -Wall -Wextra -Werror -MMD -MP
LDLIBS += -lpthread -lm

ifneq ($(SANITIZE),)
CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer
LDFLAGS += -fsanitize=$(SANITIZE)
BUILD = build/san-$(subst $(comma),-,$(SANITIZE))
else
BUILD = build/default
endif
comma := ,

# pkg-config is asked only when it and the packages are there, so that
# `make deps` can run on a bare machine.
pkg_cflags = $(shell pkg-config --cflags $(1) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
LDLIBS += $(PKG_LIBS)

# Sources by directory, and what each directory may include: DESIGN.md's
# layering (fs -> core -> connectors -> lib) is enforced by the compiler,
# since a header of a layer above is not on the include path. Only fs/
# sees the fuse3 headers, and connectors/ do not see SQLite's.
LIB_SRC = $(wildcard lib/*.c)
CONN_SRC = $(wildcard connectors/*.c connectors/common/*.c)
CORE_SRC = $(wildcard core/*.c)
FS_SRC = $(wildcard fs/*.c)
LIB_OBJ = $(patsubst %.c,$(BUILD)/%.o,$(LIB_SRC) $(CONN_SRC) $(CORE_SRC))
FS_OBJ = $(patsubst %.c,$(BUILD)/%.o,$(FS_SRC))

$(BUILD)/lib/%.o: DIR_CFLAGS := -Ilib $(call pkg_cflags,libcurl libcjson openssl)
$(BUILD)/connectors/%.o: DIR_CFLAGS := -Ilib -Iconnectors -Iconnectors/common \
	$(call pkg_cflags,libcurl libcjson openssl)
$(BUILD)/core/%.o: DIR_CFLAGS := -Ilib -Iconnectors -Icore \
	$(call pkg_cflags,libcurl libcjson sqlite3 openssl)
$(BUILD)/fs/%.o: DIR_CFLAGS := -Ilib -Icore $(call pkg_cflags,fuse3 libcjson)
$(BUILD)/fs/main.o: DIR_CFLAGS += -DTRAINFS_VERSION='"$(VERSION)"'
UNIT_CFLAGS := -Ilib -Iconnectors -Iconnectors/common -Icore \
	$(call pkg_cflags,libcurl libcjson sqlite3 openssl)
TOOLS_CFLAGS := $(call pkg_cflags,fuse3)

UNIT_TESTS = $(basename $(notdir $(wildcard tests/unit/test_*.c)))
UNIT_BINS = $(addprefix $(BUILD)/tests/,$(UNIT_TESTS))
TOOLS = tools/floorfs tools/bench_read tools/bench_submit tools/bench_slurm \
	tools/bench_search

.PHONY: all deps test unit fstest crashtest demo bench bench-search install \
	clean trainfs

all: trainfs $(TOOLS)

deps:
	@sh tools/deps.sh build

trainfs: $(BUILD)/trainfs
	rm -f $@ && cp $< $@

$(BUILD)/trainfs: $(FS_OBJ) $(LIB_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(DIR_CFLAGS) -c -o $@ $<

$(BUILD)/fs/main.o: Makefile

$(BUILD)/tests/%: tests/unit/%.c $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(UNIT_CFLAGS) $(LDFLAGS) -o $@ $(filter %.c %.o,$^) \
		$(LDLIBS)

# test_fs links the FUSE layer, all but its main(), and sees what fs/ sees
$(BUILD)/tests/test_fs: tests/unit/test_fs.c $(filter-out %/main.o,$(FS_OBJ)) \
		$(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Ifs -Ilib -Icore $(call pkg_cflags,fuse3 libcjson) \
		$(LDFLAGS) -o $@ $(filter %.c %.o,$^) $(LDLIBS)

# test_fake links the fake provider too, which the daemon never ships
$(BUILD)/tests/test_fake: tests/unit/fake_connector.c

# bench_search runs the search methods in process: core/search.c is pure,
# on the lib/ floor
tools/bench_search: tools/bench_search.c $(BUILD)/core/search.o \
		$(patsubst %.c,$(BUILD)/%.o,$(LIB_SRC))
	$(CC) $(CFLAGS) -Ilib -Icore $(call pkg_cflags,libcjson) $(LDFLAGS) \
		-o $@ $^ $(LDLIBS)

tools/%: tools/%.c
	$(CC) $(CFLAGS) $(TOOLS_CFLAGS) $(LDFLAGS) -o $@ $< $(LDLIBS)

# `make test`: everything a fresh Debian machine needs, then every runner.
test:
	@sh tools/deps.sh test
	@$(MAKE) --no-print-directory all $(UNIT_BINS)
	@sh tests/run_all.sh $(BUILD)

unit: all $(UNIT_BINS)
	@sh tests/run_unit.sh $(BUILD)

fstest: all
	@sh tests/run_fs.sh

crashtest: all
	@sh tests/run_crash.sh

demo:
	@sh tools/deps.sh demo
	@$(MAKE) --no-print-directory all
	@sh tools/demo.sh

bench:
	@sh tools/deps.sh test
	@$(MAKE) --no-print-directory all
	@sh tools/bench.sh

# Optuna goes into build/venv (tools/venv.sh), never into the system.
bench-search: all
	@sh tools/bench_search.sh

# the man page, and the systemd user unit with this PREFIX's path in it
install: trainfs
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
		$(DESTDIR)$(PREFIX)/lib/systemd/user
	install -m 0755 trainfs $(DESTDIR)$(PREFIX)/bin/trainfs
	install -m 0644 trainfs.1 $(DESTDIR)$(PREFIX)/share/man/man1/trainfs.1
	sed 's|/usr/local/bin/trainfs|$(PREFIX)/bin/trainfs|' tools/trainfs.service \
		> $(DESTDIR)$(PREFIX)/lib/systemd/user/trainfs.service
	chmod 0644 $(DESTDIR)$(PREFIX)/lib/systemd/user/trainfs.service

clean:
	rm -rf build trainfs $(TOOLS)

-include $(shell find build -name '*.d' 2>/dev/null)
