# vcpu_scheduler and memory_coordinator: host-side resource managers for libvirt.
#
#   make          build both daemons
#   make unit     pure unit tests, no hypervisor (seconds)
#   make check    install what is missing, start the test host, run every test
#   make demo     install what is missing, start the test host, run the daemons on real guests
#   make format   clang-format every C file
#   make install  DESTDIR/PREFIX aware

PKG_CONFIG ?= pkg-config
CC ?= cc
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SYSCONFDIR ?= /etc
UNITDIR ?= /lib/systemd/system
MANDIR ?= $(PREFIX)/share/man
DESTDIR ?=
PYTHON ?= /usr/bin/python3

PKGS := libvirt libxml-2.0 glib-2.0 json-glib-1.0
WARN := -Wall -Wextra -Wformat=2 -Wformat-security -Wshadow -Wstrict-prototypes \
        -Wmissing-prototypes -Wno-unused-parameter -Wno-missing-field-initializers
CFLAGS ?= -O2 -g
ifeq ($(SANITIZE),1)
CFLAGS += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
BUILD := build-san
else
BUILD := build
endif
LOGDOM = aos
ALL_CFLAGS = -std=gnu11 $(WARN) -DG_LOG_DOMAIN=\"$(LOGDOM)\" -Werror=implicit-function-declaration -D_GNU_SOURCE \
             -Icommon $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null) $(CFLAGS)
LIBS = $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null) -lm

COMMON_SRC := $(wildcard common/*.c)
VCPU_SRC := $(filter-out vcpu_scheduler/main.c,$(wildcard vcpu_scheduler/*.c))
MEM_SRC := $(filter-out memory_coordinator/main.c,$(wildcard memory_coordinator/*.c))
UNIT_SRC := $(wildcard tests/unit/test_*.c)
PLUMB_SRC := $(wildcard tests/plumbing/test_*.c)
GUEST_SRC := $(wildcard tests/guest/*.c)
TOOL_SRC := $(wildcard tools/*.c)

COMMON_OBJ := $(COMMON_SRC:%.c=$(BUILD)/%.o)
VCPU_OBJ := $(VCPU_SRC:%.c=$(BUILD)/%.o)
MEM_OBJ := $(MEM_SRC:%.c=$(BUILD)/%.o)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
PLUMB_BIN := $(PLUMB_SRC:tests/plumbing/%.c=$(BUILD)/tests/plumbing/%)
GUEST_BIN := $(GUEST_SRC:tests/guest/%.c=build/guest/%)
TOOL_BIN := $(TOOL_SRC:%.c=%)

DAEMONS := vcpu_scheduler/vcpu_scheduler memory_coordinator/memory_coordinator

# Keep objects of tools and tests: they are cheap and make rebuilds quiet.
.PRECIOUS: $(BUILD)/%.o

.PHONY: all unit check check-host check-scenarios demo deps host-up host-down \
        format install clean guest tools
all: $(DAEMONS) $(TOOL_BIN)

$(BUILD)/vcpu_scheduler/%.o: LOGDOM = vcpu_scheduler
$(BUILD)/memory_coordinator/%.o: LOGDOM = memory_coordinator
$(BUILD)/%.o: %.c $(wildcard common/*.h vcpu_scheduler/*.h memory_coordinator/*.h)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/libcommon.a: $(COMMON_OBJ)
	$(AR) rcs $@ $^
$(BUILD)/libvcpu.a: $(VCPU_OBJ) | $(BUILD)/libcommon.a
	$(AR) rcs $@ $^
$(BUILD)/libmem.a: $(MEM_OBJ) | $(BUILD)/libcommon.a
	$(AR) rcs $@ $^

vcpu_scheduler/vcpu_scheduler: $(BUILD)/vcpu_scheduler/main.o $(BUILD)/libvcpu.a $(BUILD)/libcommon.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)
memory_coordinator/memory_coordinator: $(BUILD)/memory_coordinator/main.o $(BUILD)/libmem.a $(BUILD)/libcommon.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)
tools/%: $(BUILD)/tools/%.o $(BUILD)/libcommon.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(BUILD)/libvcpu.a $(BUILD)/libmem.a $(BUILD)/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/tests/plumbing/%: $(BUILD)/tests/plumbing/%.o $(BUILD)/libcommon.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

# Workload programs run inside the guests' busybox initramfs, so they are static.
build/guest/%: tests/guest/%.c
	@mkdir -p $(dir $@)
	$(CC) -static -O2 -Wall -Wextra -o $@ $<
guest: $(GUEST_BIN)

deps:
	@tests/host/deps.sh

# Pure tests only: no libvirt daemon, no guests.
unit: $(UNIT_BIN)
	@tests/run-tap $(UNIT_BIN)

check: deps
	@$(MAKE) --no-print-directory all guest $(UNIT_BIN)
	@tests/check.sh $(BUILD)

demo: deps
	@$(MAKE) --no-print-directory all guest
	@tests/demo.sh

host-up: deps all guest
	@tests/host/up.sh
host-down:
	@tests/host/down.sh

format:
	clang-format -i $(wildcard common/*.[ch] vcpu_scheduler/*.[ch] memory_coordinator/*.[ch] tests/unit/*.[ch] tests/guest/*.c tools/*.c)

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SYSCONFDIR)/aos $(DESTDIR)$(UNITDIR) $(DESTDIR)$(MANDIR)/man8
	install -m 0755 $(DAEMONS) $(TOOL_BIN) $(DESTDIR)$(BINDIR)/
	install -m 0644 $(wildcard conf/*.conf conf/*.env) $(DESTDIR)$(SYSCONFDIR)/aos/
	install -m 0644 $(wildcard conf/*.service) $(DESTDIR)$(UNITDIR)/
	install -m 0644 $(wildcard doc/*.8) $(DESTDIR)$(MANDIR)/man8/

clean:
	rm -rf build build-san $(DAEMONS) $(TOOL_BIN)
