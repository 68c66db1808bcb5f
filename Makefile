# rendezvous — one entry point: make, make test, make run, make bench, make install.
#
#   make            build every binary into build/bin/
#   make deps       install the Debian packages the build needs (when missing)
#   make run        deps + build + start the supervisor on etc/rendezvous.json, data in ./var/
#   make test       deps + build + the whole suite (units, then process tests)
#   make test-san   the same suite built with AddressSanitizer + UBSan into build-san/
#   make bench      deps + build + rendezvous-bench (prints figures and reference ratios)
#   make fuzz       the libFuzzer targets (tests/fuzz/) built with clang into build-fuzz/, each run
#                   FUZZ_SECONDS (60) on its seed corpus; fails on any crash, leak or sanitizer report
#   make install    PREFIX=/usr/local DESTDIR=…

PREFIX ?= /usr/local
DESTDIR ?=
BUILD ?= build
SAN ?=

CXX ?= g++
OPT ?= -O2 -g
CXXFLAGS += -std=c++20 $(OPT) -Wall -Wextra -Wno-missing-field-initializers -MMD -MP -I. -Ishared
CPPFLAGS += -D_GNU_SOURCE
LDFLAGS +=
# SAN_CXXFLAGS is kept apart from CXXFLAGS so the process tests' own objects can leave it out
# (below): they are clients over sockets, and the binaries they start are what is sanitized.
ifneq ($(SAN),)
SAN_CXXFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif
# The fuzzing build (make fuzz): every object carries libFuzzer's coverage instrumentation;
# only the fuzz targets link libFuzzer's main (FUZZ_LINK).
ifneq ($(FUZZ),)
CXXFLAGS += -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

# libcurl (its multi interface, on the registry's event loop) makes the outbound calls: the
# identity webhook and the identity provider's JWKS; libcrypto verifies RS256 tokens; simdjson's
# On-Demand API scans request bodies (shared/message.cc).
LIBS := -levent_core -levent_pthreads -ljansson -lsodium -llmdb -lsystemd -lcurl -lssl -lcrypto -lsimdjson -lpthread
CIVET_LIBS := -lcivetweb
GTEST_LIBS := -lgtest -lpthread

DEB_PACKAGES := g++ make pkg-config libevent-dev libjansson-dev libsodium-dev liblmdb-dev \
                libcivetweb-dev libsystemd-dev libgtest-dev libcurl4-openssl-dev libssl-dev \
                libsimdjson-dev ca-certificates openssl lmdb-utils curl systemd xxd chromium nodejs prometheus
# Only make fuzz: clang and its libFuzzer runtime (libclang_rt.fuzzer, in libclang-rt-14-dev on
# bookworm), so `make test` stays on g++ alone.
FUZZ_DEB_PACKAGES := clang libclang-rt-14-dev
# npm is looked for as a command: a NodeSource nodejs bundles it and conflicts with Debian's
# npm package, so only a machine without the command gets the package.
DEB_COMMAND_PACKAGES := npm:npm

BIN := $(BUILD)/bin
OBJ := $(BUILD)/obj

SHARED_SRC := $(wildcard shared/*.cc)
SUPERVISOR_SRC := $(filter-out supervisor/rendezvousctl.cc,$(wildcard supervisor/*.cc))
CTL_SRC := supervisor/rendezvousctl.cc
REGISTRY_SRC := $(wildcard worker-registry/*.cc)
ADMIN_SRC := $(wildcard worker-admin/*.cc)
REPLICATOR_SRC := $(wildcard worker-replicator/*.cc)
UNIT_SRC := $(wildcard tests/unit/*.cc)
PROCESS_SRC := $(wildcard tests/process/*.cc)
BENCH_SRC := $(wildcard tests/bench/*.cc)
FUZZ_SRC := $(wildcard tests/fuzz/*.cc)

objs = $(patsubst %.cc,$(OBJ)/%.o,$(1))

SHARED_LIB := $(OBJ)/libshared.a
# Libraries of the supervisor logic and the registry logic, so unit tests link the same code.
SUPERVISOR_LIB := $(OBJ)/libsupervisor.a
REGISTRY_LIB := $(OBJ)/libregistry.a
ADMIN_LIB := $(OBJ)/libadmin.a
REPLICATOR_LIB := $(OBJ)/libreplicator.a

PROGRAMS := $(BIN)/rendezvous $(BIN)/rendezvous-registry $(BIN)/rendezvous-admin \
            $(BIN)/rendezvous-replicator $(BIN)/rendezvousctl
TEST_PROGRAMS := $(BIN)/unit-tests $(BIN)/process-tests
BENCH_PROGRAM := $(BIN)/rendezvous-bench
# LD_PRELOAD shim that slows or holds fsync/fdatasync/msync (tests/shim/slow_fsync.c): process
# tests and the bench start the server under it. An order-only prerequisite of both programs,
# so whatever builds them (make test, make bench, make test-san) builds it beside them.
SHIM_LIB := $(BUILD)/lib/libslowfsync.so

.PHONY: all deps run test test-san unit process bench install clean check-units fuzz fuzz-build fuzz-seeds

all: $(PROGRAMS)

deps:
	@missing=""; for p in $(DEB_PACKAGES) $(EXTRA_DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	for cp in $(DEB_COMMAND_PACKAGES); do command -v $${cp%%:*} >/dev/null 2>&1 || missing="$$missing $${cp#*:}"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

$(OBJ)/%.o: %.cc
	@mkdir -p $(dir $@)
	$(CXX) $(CPPFLAGS) $(CXXFLAGS) $(SAN_CXXFLAGS) -c $< -o $@

# Under SAN=1 the process tests' objects are built without instrumentation: the servers they
# start are the sanitized binaries, and gtest-heavy test files built with ASan + UBSan took
# twice as long to compile (about half of the sanitized build). The link still carries the
# runtime, so the shared code the tests call is checked as well.
$(call objs,$(PROCESS_SRC)): SAN_CXXFLAGS :=

$(SHARED_LIB): $(call objs,$(SHARED_SRC))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(SUPERVISOR_LIB): $(call objs,$(filter-out supervisor/main.cc,$(SUPERVISOR_SRC)))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(REGISTRY_LIB): $(call objs,$(filter-out worker-registry/main.cc,$(REGISTRY_SRC)))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(REPLICATOR_LIB): $(call objs,$(filter-out worker-replicator/main.cc,$(REPLICATOR_SRC)))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# The dashboard's page (worker-admin/dashboard/*) is compiled into the admin worker: one
# NUL-terminated array and a size per file, named dash_<file name with . and - as _>.
DASHBOARD_ASSETS := $(sort $(wildcard worker-admin/dashboard/*))
DASHBOARD_GEN := $(BUILD)/gen/dashboard_assets.cc
$(DASHBOARD_GEN): $(DASHBOARD_ASSETS) Makefile
	@mkdir -p $(dir $@)
	{ echo '// Generated by the Makefile from worker-admin/dashboard/; do not edit.'; \
	  echo '#include <cstddef>'; \
	  for f in $(DASHBOARD_ASSETS); do n=$$(basename $$f | tr '.-' '__'); \
	    echo "extern const unsigned char dash_$$n[] = {"; xxd -i < $$f | sed '$$s/$$/,/'; echo '0x00};'; \
	    echo "extern const size_t dash_$${n}_size = $$(wc -c < $$f);"; done; } > $@.tmp && mv $@.tmp $@
$(OBJ)/gen/dashboard_assets.o: $(DASHBOARD_GEN)
	@mkdir -p $(dir $@)
	$(CXX) $(CPPFLAGS) $(CXXFLAGS) $(SAN_CXXFLAGS) -c $< -o $@

$(ADMIN_LIB): $(call objs,$(filter-out worker-admin/main.cc,$(ADMIN_SRC))) $(OBJ)/gen/dashboard_assets.o
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BIN)/rendezvous: $(OBJ)/supervisor/main.o $(SUPERVISOR_LIB) $(SHARED_LIB)
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BIN)/rendezvous-registry: $(OBJ)/worker-registry/main.o $(REGISTRY_LIB) $(SHARED_LIB)
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BIN)/rendezvous-admin: $(OBJ)/worker-admin/main.o $(ADMIN_LIB) $(SHARED_LIB)
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) -o $@ $^ $(CIVET_LIBS) $(LIBS)

$(BIN)/rendezvous-replicator: $(OBJ)/worker-replicator/main.o $(REPLICATOR_LIB) $(SHARED_LIB)
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BIN)/rendezvousctl: $(call objs,$(CTL_SRC)) $(SHARED_LIB)
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BIN)/unit-tests: $(call objs,$(UNIT_SRC)) $(SUPERVISOR_LIB) $(REGISTRY_LIB) $(ADMIN_LIB) $(REPLICATOR_LIB) $(SHARED_LIB)
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) -o $@ $^ -lgtest_main $(GTEST_LIBS) $(CIVET_LIBS) $(LIBS)

$(SHIM_LIB): tests/shim/slow_fsync.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -g -Wall -Wextra -fPIC -shared -o $@ $< -ldl -lpthread

$(BIN)/process-tests: $(call objs,$(PROCESS_SRC)) $(SHARED_LIB) | $(SHIM_LIB)
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) -o $@ $^ -lgtest_main $(GTEST_LIBS) $(LIBS)

# simdjson's On-Demand code is compiled into the file that calls it, for the instruction set of
# the build: AVX2 (its "haswell" kernel) when this machine has it, so the reference is its best.
$(OBJ)/tests/bench/parser.o: CXXFLAGS += $(shell grep -qw avx2 /proc/cpuinfo 2>/dev/null && grep -qw pclmulqdq /proc/cpuinfo && echo -march=x86-64-v3 -mpclmul)
$(BENCH_PROGRAM): $(call objs,$(BENCH_SRC)) $(SHARED_LIB) | $(SHIM_LIB)
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) -o $@ $^ $(LIBS)

# One libFuzzer binary per tests/fuzz/<name>.cc, linked with every worker library so a target
# can drive the real decoders, handlers and routes.
FUZZ_TARGETS := $(patsubst tests/fuzz/%.cc,$(BIN)/fuzz-%,$(FUZZ_SRC))
$(BIN)/fuzz-%: $(OBJ)/tests/fuzz/%.o $(REGISTRY_LIB) $(ADMIN_LIB) $(SHARED_LIB)
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(CIVET_LIBS) $(LIBS)
fuzz-build: $(FUZZ_TARGETS)
# The seed writer (tests/fuzz/tools/make_seeds.cc): real frames and records from the encoders.
$(BIN)/make-fuzz-seeds: $(OBJ)/tests/fuzz/tools/make_seeds.o $(REGISTRY_LIB) $(SHARED_LIB)
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) -o $@ $^ $(LIBS)

run: deps
	$(MAKE) -j2 all
	@mkdir -p var/data var/run
	exec $(BIN)/rendezvous -config etc/rendezvous.json -data-dir var/data -run-dir var/run

test: deps
	$(MAKE) -j2 all $(TEST_PROGRAMS)
	# playwright-core for the dashboard's browser test (tests/browser), from its lock file.
	npm ci --prefix tests/browser --no-audit --no-fund
	BUILD=$(BUILD) tests/run-all

test-san: deps
	$(MAKE) -j2 BUILD=build-san SAN=1 OPT="-O1 -g" all build-san/bin/unit-tests build-san/bin/process-tests
	BUILD=build-san tests/run-all

bench:
	$(MAKE) deps
	$(MAKE) -j2 all $(BENCH_PROGRAM)
	$(BENCH_PROGRAM) --bin-dir $(BIN)

# FUZZ_CXX may be "ccache clang++". The corpus each run grows is kept in build-fuzz/corpus/,
# crash inputs in build-fuzz/artifacts/; the committed seeds (tests/fuzz/corpus/) stay as they are.
FUZZ_CXX ?= clang++
FUZZ_SECONDS ?= 60
fuzz:
	$(MAKE) deps EXTRA_DEB_PACKAGES="$(FUZZ_DEB_PACKAGES)"
	$(MAKE) -j2 BUILD=build-fuzz FUZZ=1 CXX="$(FUZZ_CXX)" OPT="-O1 -g" fuzz-build
	BUILD=build-fuzz FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run
# Rewrites the committed seed corpus from the encoders (after a format change).
fuzz-seeds:
	$(MAKE) -j2 BUILD=build-fuzz FUZZ=1 CXX="$(FUZZ_CXX)" OPT="-O1 -g" build-fuzz/bin/make-fuzz-seeds
	build-fuzz/bin/make-fuzz-seeds tests/fuzz/corpus

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/rendezvous $(DESTDIR)$(PREFIX)/share/rendezvous
	install -m 0755 $(BIN)/rendezvous $(BIN)/rendezvousctl $(DESTDIR)$(PREFIX)/bin/
	install -m 0755 $(BIN)/rendezvous-registry $(BIN)/rendezvous-admin $(BIN)/rendezvous-replicator \
	  $(DESTDIR)$(PREFIX)/lib/rendezvous/
	install -m 0644 etc/rendezvous.service etc/rendezvous.socket $(DESTDIR)$(PREFIX)/share/rendezvous/
	# VIP failover with keepalived (docs/failover.md): an example configuration and the notify scripts.
	install -d $(DESTDIR)$(PREFIX)/share/rendezvous/keepalived
	install -m 0644 etc/keepalived/keepalived.conf etc/keepalived/failover.env $(DESTDIR)$(PREFIX)/share/rendezvous/keepalived/
	install -m 0755 etc/keepalived/rendezvous-notify etc/keepalived/rendezvous-notify-master \
	  etc/keepalived/rendezvous-notify-backup etc/keepalived/rendezvous-notify-fault $(DESTDIR)$(PREFIX)/share/rendezvous/keepalived/
	# The config can hold the admin, dashboard and replication tokens: owner and group only.
	install -m 0640 etc/rendezvous.json $(DESTDIR)$(PREFIX)/share/rendezvous/

clean:
	rm -rf build build-san build-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
