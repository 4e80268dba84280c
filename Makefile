# vcpu_scheduler and memory_coordinator: host-side resource managers for libvirt.
#
#   make          build both daemons
#   make unit     pure unit tests, no hypervisor (seconds)
#   make check    install what is missing, start the test host, run every test
#   make demo     install what is missing, start the test host, run the daemons on real guests
#   make format   clang-format every C file
#   make install  DESTDIR/PREFIX aware
#   make deb      Debian packages (debian/) in build/deb/

PKG_CONFIG ?= pkg-config
CC ?= cc
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
SYSCONFDIR ?= /etc
UNITDIR ?= /lib/systemd/system
# systemd-sysusers reads only /usr/lib, /etc and /run, whatever the PREFIX.
SYSUSERSDIR ?= /usr/lib/sysusers.d
MANDIR ?= $(PREFIX)/share/man
DESTDIR ?=
PYTHON ?= /usr/bin/python3

PKGS := libvirt libxml-2.0 glib-2.0 json-glib-1.0 libsystemd
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
             -Icommon -Imigration $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null) $(CFLAGS)
LIBS = $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null) -lm

COMMON_SRC := $(wildcard common/*.c)
MIG_SRC := $(wildcard migration/*.c)
VCPU_SRC := $(filter-out vcpu_scheduler/main.c,$(wildcard vcpu_scheduler/*.c))
MEM_SRC := $(filter-out memory_coordinator/main.c,$(wildcard memory_coordinator/*.c))
UNIT_SRC := $(wildcard tests/unit/test_*.c)
# The topology host simulator, shared by the unit tests and its bench.
SIM_SRC := $(filter-out %/topo_bench.c,$(wildcard tests/sim/*.c))
PLUMB_SRC := $(wildcard tests/plumbing/test_*.c)
GUEST_SRC := $(wildcard tests/guest/*.c)
TOOL_SRC := $(wildcard tools/*.c)

COMMON_OBJ := $(COMMON_SRC:%.c=$(BUILD)/%.o)
MIG_OBJ := $(MIG_SRC:%.c=$(BUILD)/%.o)
VCPU_OBJ := $(VCPU_SRC:%.c=$(BUILD)/%.o)
MEM_OBJ := $(MEM_SRC:%.c=$(BUILD)/%.o)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
SIM_OBJ := $(SIM_SRC:%.c=$(BUILD)/%.o)
PLUMB_BIN := $(PLUMB_SRC:tests/plumbing/%.c=$(BUILD)/tests/plumbing/%)
GUEST_BIN := $(GUEST_SRC:tests/guest/%.c=build/guest/%)
HOST_TOOL_SRC := $(wildcard tests/host/*.c)
HOST_TOOL_BIN := $(HOST_TOOL_SRC:tests/host/%.c=build/host/%)
# Sanitized binaries live under build-san/bin, so they can never be
# mistaken for (or installed as) the normal ones.
ifeq ($(SANITIZE),1)
VCPU_BIN := $(BUILD)/bin/vcpu_scheduler
MEM_BIN := $(BUILD)/bin/memory_coordinator
TOOL_BIN := $(TOOL_SRC:tools/%.c=$(BUILD)/bin/%)
else
VCPU_BIN := vcpu_scheduler/vcpu_scheduler
MEM_BIN := memory_coordinator/memory_coordinator
TOOL_BIN := $(TOOL_SRC:%.c=%)
endif
DAEMONS := $(VCPU_BIN) $(MEM_BIN)
# tick_bench measures this tree's policies for `make bench`: not an
# operator's tool, so not installed.
INSTALL_TOOLS := $(filter-out %/tick_bench,$(TOOL_BIN))
# Needs libvirtd's read-write socket, so it is an administrator's command
# (sbin); the other tools run as any user.
SBIN_TOOLS := $(filter %/migrate_request,$(TOOL_BIN))

# Keep objects of tools and tests: they are cheap and make rebuilds quiet.
.PRECIOUS: $(BUILD)/%.o

.PHONY: all unit plumbing check check-host check-scenarios demo deps host-up host-down \
        format install deb clean guest host-tools tools
all: $(DAEMONS) $(TOOL_BIN)

$(BUILD)/vcpu_scheduler/%.o: LOGDOM = vcpu_scheduler
$(BUILD)/memory_coordinator/%.o: LOGDOM = memory_coordinator
$(BUILD)/%.o: %.c $(wildcard common/*.h migration/*.h vcpu_scheduler/*.h memory_coordinator/*.h tests/unit/*.h tests/sim/*.h)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/libcommon.a: $(COMMON_OBJ)
	$(AR) rcs $@ $^
$(BUILD)/libmigration.a: $(MIG_OBJ) | $(BUILD)/libcommon.a
	$(AR) rcs $@ $^
$(BUILD)/libvcpu.a: $(VCPU_OBJ) | $(BUILD)/libcommon.a
	$(AR) rcs $@ $^
$(BUILD)/libmem.a: $(MEM_OBJ) | $(BUILD)/libcommon.a
	$(AR) rcs $@ $^
$(BUILD)/libsim.a: $(SIM_OBJ)
	$(AR) rcs $@ $^

$(VCPU_BIN): $(BUILD)/vcpu_scheduler/main.o $(BUILD)/libvcpu.a $(BUILD)/libmigration.a \
        $(BUILD)/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)
$(MEM_BIN): $(BUILD)/memory_coordinator/main.o $(BUILD)/libmem.a $(BUILD)/libmigration.a \
        $(BUILD)/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)
tools/% $(BUILD)/bin/%: $(BUILD)/tools/%.o $(BUILD)/libmigration.a $(BUILD)/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(BUILD)/libsim.a $(BUILD)/libvcpu.a $(BUILD)/libmem.a \
        $(BUILD)/libmigration.a $(BUILD)/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

# Plumbing tests run the daemons' own apply steps and tick driver.
$(BUILD)/tests/plumbing/%: $(BUILD)/tests/plumbing/%.o $(BUILD)/libvcpu.a $(BUILD)/libmem.a \
        $(BUILD)/libmigration.a $(BUILD)/libcommon.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

# Workload programs run inside the guests' busybox initramfs, so they are static.
build/guest/%: tests/guest/%.c
	@mkdir -p $(dir $@)
	$(CC) -static -O2 -Wall -Wextra -o $@ $<
guest: $(GUEST_BIN)

# Helpers that run on the test host beside the guests (the pCPU probe).
build/host/%: tests/host/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(LIBS)
host-tools: $(HOST_TOOL_BIN)

deps:
	@tests/host/deps.sh

# Pure tests only: no libvirt daemon, no guests.
unit: $(UNIT_BIN) $(TOOL_BIN)
	@tests/run-tap $(UNIT_BIN)

# Plumbing: libvirt's in-process test driver and the bad-input table; no guests.
plumbing: all host-tools $(PLUMB_BIN)
	@tests/run-tap $(PLUMB_BIN) tests/plumbing/*.sh tests/plumbing/*.py

check: deps
	@$(MAKE) --no-print-directory all guest host-tools $(UNIT_BIN) $(PLUMB_BIN)
	@tests/check.sh $(BUILD) $(VCPU_BIN) $(MEM_BIN)

demo: deps
	@$(MAKE) --no-print-directory all guest host-tools
	@tests/demo.sh

host-up: deps all guest host-tools
	@tests/host/up.sh
host-down:
	@tests/host/down.sh

format:
	clang-format -i $(wildcard common/*.[ch] migration/*.[ch] vcpu_scheduler/*.[ch] memory_coordinator/*.[ch] tests/unit/*.[ch] tests/sim/*.[ch] tests/guest/*.c tools/*.c)

install: all
	@if [ "$(SANITIZE)" = 1 ]; then echo "make install: not with SANITIZE=1" >&2; exit 2; fi
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(SYSCONFDIR)/aos \
	    $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(MANDIR)/man1 \
	    $(DESTDIR)$(MANDIR)/man7 $(DESTDIR)$(MANDIR)/man8
	install -m 0755 $(DAEMONS) $(SBIN_TOOLS) $(DESTDIR)$(SBINDIR)/
	install -m 0755 $(filter-out $(SBIN_TOOLS),$(INSTALL_TOOLS)) $(DESTDIR)$(BINDIR)/
	install -m 0644 $(wildcard conf/*.conf conf/*.env) $(DESTDIR)$(SYSCONFDIR)/aos/
	@# One source per unit: the programs' directory is only known here.
	@for src in $(wildcard conf/*.service.in); do \
	    out=$(DESTDIR)$(UNITDIR)/$$(basename $$src .in); \
	    echo "sed s|@SBINDIR@|$(SBINDIR)| $$src >$$out"; \
	    sed 's|@SBINDIR@|$(SBINDIR)|g' $$src >$$out.tmp && chmod 0644 $$out.tmp || exit 1; \
	    if grep -n '@[A-Z_][A-Z_]*@' $$out.tmp; then \
	        echo "make install: $$src: placeholder left unsubstituted" >&2; \
	        rm -f $$out.tmp; exit 1; \
	    fi; \
	    mv $$out.tmp $$out; \
	done
	install -m 0644 conf/aos.sysusers $(DESTDIR)$(SYSUSERSDIR)/aos.conf
	install -m 0644 $(wildcard doc/*.1) $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 $(wildcard doc/*.7) $(DESTDIR)$(MANDIR)/man7/
	install -m 0644 $(wildcard doc/*.8) $(DESTDIR)$(MANDIR)/man8/

# dpkg-buildpackage cleans the tree it builds in (make clean) and writes
# its results next to it, so it runs in a copy of the files git does not
# ignore (committed or not), at build/deb/src: build/ and the binaries of
# this tree stay as they are, and the packages land in build/deb/, inside
# the clone, where make clean removes them.  The caller's make settings
# (PREFIX=, SANITIZE=, -j) are not the package's.
DEB_OUT := build/deb
deb:
	@if [ "$(SANITIZE)" = 1 ]; then echo "make deb: not with SANITIZE=1" >&2; exit 2; fi
	rm -rf $(DEB_OUT)
	mkdir -p $(DEB_OUT)/src
	git ls-files -z --cached --others --exclude-standard | \
	    xargs -0 cp -a --parents -t $(DEB_OUT)/src --
	cd $(DEB_OUT)/src && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
	    dpkg-buildpackage -us -uc -b -J
	rm -rf $(DEB_OUT)/src
	@ls -1 $(DEB_OUT)/*.deb

clean:
	rm -rf build build-san build-fuzz vcpu_scheduler/vcpu_scheduler \
	    memory_coordinator/memory_coordinator $(TOOL_SRC:%.c=%)

# ---- Fuzzing and security verification (tests/fuzz, tests/valgrind.sh) ----
# libFuzzer needs clang; the library code is rebuilt into build-fuzz/ with
# coverage, ASan and UBSan, so it never mixes with build/ or build-san/.
#
#   make fuzz-build   build every tests/fuzz/fuzz_*.c target
#   make fuzz         run each target FUZZ_SECONDS, then the policy property
#                     tests with FUZZ_CASES cases
#   make valgrind     every unit test binary under valgrind
#   make fuzz-coverage  line coverage of the sources by the saved corpora
#   make fuzz-clean   remove build-fuzz/ (corpora and crashes included)
FUZZ_CC ?= clang
FUZZ_BUILD := build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_CASES ?= 100000
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS = -std=gnu11 $(WARN) -DG_LOG_DOMAIN=\"aos\" -D_GNU_SOURCE \
              -Werror=implicit-function-declaration -Icommon -Imigration \
              $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null) \
              -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link $(FUZZ_SAN)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ_BUILD)/%)
FUZZ_COMMON_OBJ := $(COMMON_SRC:%.c=$(FUZZ_BUILD)/%.o)
FUZZ_MIG_OBJ := $(MIG_SRC:%.c=$(FUZZ_BUILD)/%.o)
FUZZ_DAEMON_OBJ := $(VCPU_SRC:%.c=$(FUZZ_BUILD)/%.o) $(MEM_SRC:%.c=$(FUZZ_BUILD)/%.o)

.PRECIOUS: $(FUZZ_BUILD)/%.o $(FUZZ_BUILD)/cov/%.o
.PHONY: fuzz fuzz-build fuzz-clean fuzz-coverage valgrind

$(FUZZ_BUILD)/%.o: %.c $(wildcard common/*.h migration/*.h vcpu_scheduler/*.h memory_coordinator/*.h)
	@mkdir -p $(dir $@)
	@echo "  FUZZCC  $<"
	@$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<
$(FUZZ_BUILD)/libcommon.a: $(FUZZ_COMMON_OBJ)
	$(AR) rcs $@ $^
$(FUZZ_BUILD)/libdaemons.a: $(FUZZ_DAEMON_OBJ)
	$(AR) rcs $@ $^
$(FUZZ_BUILD)/libmigration.a: $(FUZZ_MIG_OBJ)
	$(AR) rcs $@ $^
# fuzz_config reads settings through the daemons' own keys and options.
$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/tests/fuzz/fuzz_%.o $(FUZZ_BUILD)/libdaemons.a \
        $(FUZZ_BUILD)/libmigration.a $(FUZZ_BUILD)/libcommon.a
	$(FUZZ_CC) -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $^ $(LIBS)

fuzz-build: $(FUZZ_BIN)

fuzz: fuzz-build $(UNIT_BIN)
	@tests/fuzz/run.sh --fuzz-build $(FUZZ_BUILD) --unit-build $(BUILD) \
	    --seconds $(FUZZ_SECONDS) --cases $(FUZZ_CASES)

# ASan and valgrind exclude each other, so this always uses build/.
valgrind:
	@if [ "$(SANITIZE)" = 1 ]; then \
	    echo "make valgrind: run it without SANITIZE=1" >&2; exit 2; fi
	@$(MAKE) --no-print-directory -s $(UNIT_BIN) $(TOOL_BIN)
	@tests/valgrind.sh $(UNIT_BIN)

# Line coverage of the fuzzed sources by the corpora in build-fuzz/corpus,
# through clang's source-based coverage (no sanitizers: the inputs only
# run once each).
FUZZ_COV_CFLAGS = $(filter-out -fsanitize=%,$(FUZZ_CFLAGS)) -fsanitize=fuzzer-no-link \
                  -fprofile-instr-generate -fcoverage-mapping
$(FUZZ_BUILD)/cov/%.o: %.c $(wildcard common/*.h migration/*.h vcpu_scheduler/*.h memory_coordinator/*.h)
	@mkdir -p $(dir $@)
	@echo "  COVCC   $<"
	@$(FUZZ_CC) $(FUZZ_COV_CFLAGS) -c -o $@ $<
$(FUZZ_BUILD)/cov/fuzz_%: $(FUZZ_BUILD)/cov/tests/fuzz/fuzz_%.o \
        $(VCPU_SRC:%.c=$(FUZZ_BUILD)/cov/%.o) $(MEM_SRC:%.c=$(FUZZ_BUILD)/cov/%.o) \
        $(MIG_SRC:%.c=$(FUZZ_BUILD)/cov/%.o) $(COMMON_SRC:%.c=$(FUZZ_BUILD)/cov/%.o)
	$(FUZZ_CC) -fsanitize=fuzzer -fprofile-instr-generate -o $@ $^ $(LIBS)

fuzz-coverage: $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ_BUILD)/cov/%)
	@for b in $^; do \
	    t=$$(basename $$b); \
	    LLVM_PROFILE_FILE=$(FUZZ_BUILD)/cov/$$t.profraw $$b -runs=0 \
	        $(FUZZ_BUILD)/corpus/$$t >/dev/null 2>&1 || exit 1; \
	    llvm-profdata merge -o $(FUZZ_BUILD)/cov/$$t.profdata \
	        $(FUZZ_BUILD)/cov/$$t.profraw || exit 1; \
	    echo "# $$t"; \
	    llvm-cov report $$b -instr-profile=$(FUZZ_BUILD)/cov/$$t.profdata \
	        $(COMMON_SRC) $(MIG_SRC) | grep -v ' 0.00%\|^-\|^Files' ; \
	done

fuzz-clean:
	rm -rf $(FUZZ_BUILD)
# ---- end of fuzzing and security verification ----

# ---- Benchmark (tests/bench, tools/tick_bench) ----
#   make bench               every CPU and memory course scenario on the real
#                            guests (both memory policies), the cost of one
#                            tick on the 4 guests and on 100/1,000/5,000
#                            generated test:/// domains, a PNG per scenario;
#                            report in build/bench/results.{md,json} (~28 min)
#   make bench BENCH_QUICK=1 [BENCH_RESULTS=DIR]
#                            no guests, no lock: reuses the scenario results
#                            in DIR and the last full run's real-guest cost
#   make bench-topology      vcpu_scheduler's policy on simulated hosts with a
#                            topology, per granularity (tests/sim/topo_bench.c)
#   make bench-lateness      vcpu_scheduler's tick lateness with every pCPU
#                            saturated by the guests, at the priorities a unit
#                            could give it (tests/bench/lateness.py; ~3 min);
#                            table on stdout, build/bench/lateness.json
# tick_bench measures both daemons' policies, so it links their libraries.
.PHONY: bench
TICK_BENCH := $(filter %/tick_bench,$(TOOL_BIN))
tools/tick_bench $(BUILD)/bin/tick_bench: $(BUILD)/tools/tick_bench.o $(BUILD)/libvcpu.a \
        $(BUILD)/libmem.a $(BUILD)/libmigration.a $(BUILD)/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

bench:
	@if [ -z "$(BENCH_QUICK)" ]; then $(MAKE) --no-print-directory deps; fi
	@$(MAKE) --no-print-directory all $(if $(BENCH_QUICK),,guest host-tools)
	@VCPU_SCHEDULER=$(VCPU_BIN) MEMORY_COORDINATOR=$(MEM_BIN) \
	    $(PYTHON) tests/bench/bench.py --tick-bench $(TICK_BENCH) \
	    $(if $(BENCH_QUICK),--quick $(if $(BENCH_RESULTS),--results $(BENCH_RESULTS)))

# topo_bench: the vCPU policy at each granularity on simulated hosts from
# the topology fixtures, and its decide time at 256 CPUs / 2,000 vCPUs
# (tests/sim; ~3 s).  Tables on stdout and in build/bench/topology.md.
$(BUILD)/bench/topo_bench: $(BUILD)/tests/sim/topo_bench.o $(BUILD)/libsim.a $(BUILD)/libvcpu.a \
        $(BUILD)/libmigration.a $(BUILD)/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)
.PHONY: bench-topology
bench-topology: $(BUILD)/bench/topo_bench
	@$(BUILD)/bench/topo_bench --fixtures tests/fixtures/caps | tee $(BUILD)/bench/topology.md
.PHONY: bench-lateness
bench-lateness: host-up
	@mkdir -p $(BUILD)/bench
	@$(PYTHON) tests/bench/lateness.py --out $(BUILD)/bench/lateness.json
# ---- end of benchmark ----
