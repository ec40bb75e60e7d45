# trainfs - build, test, demo, bench, install.
#
#   make                      build ./trainfs and the tools
#   make test                 install what is missing, build, run every test
#   make demo                 install, build, mount ./mnt, run an example job
#   make bench                measure, write BENCHMARKS.md
#   make SANITIZE=address,undefined test    the same under sanitizers
#   make install PREFIX=/usr/local

CC ?= cc
PREFIX ?= /usr/local
SANITIZE ?=
PKGS = fuse3 libcurl libcjson sqlite3 openssl

CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 -Wall -Wextra -Werror -MMD -MP
CFLAGS += -Icore -Iconnectors
LDLIBS += -lpthread

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
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS += $(PKG_CFLAGS)
LDLIBS += $(PKG_LIBS)

CORE_SRC = core/util.c core/hmap.c core/store.c core/config.c \
	   core/metrics.c core/core.c core/poller.c core/artifacts.c \
	   core/fetch.c core/notify.c
CONN_SRC = connectors/connector.c connectors/local.c
FS_SRC = fs/trainfs.c
LIB_OBJ = $(patsubst %.c,$(BUILD)/%.o,$(CORE_SRC) $(CONN_SRC))
FS_OBJ = $(patsubst %.c,$(BUILD)/%.o,$(FS_SRC))

UNIT_TESTS = $(basename $(notdir $(wildcard tests/unit/test_*.c)))
UNIT_BINS = $(addprefix $(BUILD)/tests/,$(UNIT_TESTS))
TOOLS = tools/floorfs tools/bench_read tools/bench_submit

.PHONY: all deps test unit fstest crashtest demo bench install clean trainfs

all: trainfs $(TOOLS)

deps:
	@sh tools/deps.sh build

trainfs: $(BUILD)/trainfs
	rm -f $@ && cp $< $@

$(BUILD)/trainfs: $(FS_OBJ) $(LIB_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(filter %.c %.o,$^) $(LDLIBS)

tools/%: tools/%.c
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LDLIBS)

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

install: trainfs
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 trainfs $(DESTDIR)$(PREFIX)/bin/trainfs

clean:
	rm -rf build trainfs $(TOOLS)

-include $(shell find build -name '*.d' 2>/dev/null)
