# rendezvous — one entry point: make, make test, make run, make bench, make install.
#
#   make            build every binary into build/bin/
#   make deps       install the Debian packages the build needs (when missing)
#   make run        deps + build + start the supervisor on etc/rendezvous.json, data in ./var/
#   make test       deps + build + the whole suite (units, then process tests)
#   make test-san   the same suite built with AddressSanitizer + UBSan into build-san/
#   make bench      deps + build + rendezvous-bench (prints figures and reference ratios)
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
ifneq ($(SAN),)
CXXFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

# libcurl (its multi interface, on the registry's event loop) makes the outbound calls: the
# identity webhook and the identity provider's JWKS; libcrypto verifies RS256 tokens.
LIBS := -levent_core -levent_pthreads -ljansson -lsodium -llmdb -lsystemd -lcurl -lcrypto -lpthread
CIVET_LIBS := -lcivetweb
GTEST_LIBS := -lgtest -lpthread

DEB_PACKAGES := g++ make pkg-config libevent-dev libjansson-dev libsodium-dev liblmdb-dev \
                libcivetweb-dev libsystemd-dev libgtest-dev libcurl4-openssl-dev libssl-dev \
                ca-certificates lmdb-utils curl systemd prometheus

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

objs = $(patsubst %.cc,$(OBJ)/%.o,$(1))

SHARED_LIB := $(OBJ)/libshared.a
# Libraries of the supervisor logic and the registry logic, so unit tests link the same code.
SUPERVISOR_LIB := $(OBJ)/libsupervisor.a
REGISTRY_LIB := $(OBJ)/libregistry.a
ADMIN_LIB := $(OBJ)/libadmin.a

PROGRAMS := $(BIN)/rendezvous $(BIN)/rendezvous-registry $(BIN)/rendezvous-admin \
            $(BIN)/rendezvous-replicator $(BIN)/rendezvousctl
TEST_PROGRAMS := $(BIN)/unit-tests $(BIN)/process-tests
BENCH_PROGRAM := $(BIN)/rendezvous-bench
# LD_PRELOAD shim that slows or holds fsync/fdatasync/msync (tests/shim/slow_fsync.c): process
# tests and the bench start the server under it. An order-only prerequisite of both programs,
# so whatever builds them (make test, make bench, make test-san) builds it beside them.
SHIM_LIB := $(BUILD)/lib/libslowfsync.so

.PHONY: all deps run test test-san unit process bench install clean check-units

all: $(PROGRAMS)

deps:
	@missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

$(OBJ)/%.o: %.cc
	@mkdir -p $(dir $@)
	$(CXX) $(CPPFLAGS) $(CXXFLAGS) -c $< -o $@

$(SHARED_LIB): $(call objs,$(SHARED_SRC))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(SUPERVISOR_LIB): $(call objs,$(filter-out supervisor/main.cc,$(SUPERVISOR_SRC)))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(REGISTRY_LIB): $(call objs,$(filter-out worker-registry/main.cc,$(REGISTRY_SRC)))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(ADMIN_LIB): $(call objs,$(filter-out worker-admin/main.cc,$(ADMIN_SRC)))
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

$(BIN)/rendezvous-replicator: $(call objs,$(REPLICATOR_SRC)) $(SHARED_LIB)
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BIN)/rendezvousctl: $(call objs,$(CTL_SRC)) $(SHARED_LIB)
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BIN)/unit-tests: $(call objs,$(UNIT_SRC)) $(SUPERVISOR_LIB) $(REGISTRY_LIB) $(ADMIN_LIB) $(SHARED_LIB)
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) -o $@ $^ -lgtest_main $(GTEST_LIBS) $(CIVET_LIBS) $(LIBS)

$(SHIM_LIB): tests/shim/slow_fsync.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -g -Wall -Wextra -fPIC -shared -o $@ $< -ldl -lpthread

$(BIN)/process-tests: $(call objs,$(PROCESS_SRC)) $(SHARED_LIB) | $(SHIM_LIB)
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) -o $@ $^ -lgtest_main $(GTEST_LIBS) $(LIBS)

$(BENCH_PROGRAM): $(call objs,$(BENCH_SRC)) $(SHARED_LIB) | $(SHIM_LIB)
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) -o $@ $^ $(LIBS)

run: deps
	$(MAKE) -j2 all
	@mkdir -p var/data var/run
	exec $(BIN)/rendezvous -config etc/rendezvous.json -data-dir var/data -run-dir var/run

test: deps
	$(MAKE) -j2 all $(TEST_PROGRAMS)
	BUILD=$(BUILD) tests/run-all

test-san: deps
	$(MAKE) -j2 BUILD=build-san SAN=1 OPT="-O1 -g" all build-san/bin/unit-tests build-san/bin/process-tests
	BUILD=build-san tests/run-all

bench: deps
	$(MAKE) -j2 all $(BENCH_PROGRAM)
	$(BENCH_PROGRAM) --bin-dir $(BIN)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/rendezvous $(DESTDIR)$(PREFIX)/share/rendezvous
	install -m 0755 $(BIN)/rendezvous $(BIN)/rendezvousctl $(DESTDIR)$(PREFIX)/bin/
	install -m 0755 $(BIN)/rendezvous-registry $(BIN)/rendezvous-admin $(BIN)/rendezvous-replicator \
	  $(DESTDIR)$(PREFIX)/lib/rendezvous/
	install -m 0644 etc/rendezvous.service etc/rendezvous.socket $(DESTDIR)$(PREFIX)/share/rendezvous/
	# The config can hold the admin, dashboard and replication tokens: owner and group only.
	install -m 0640 etc/rendezvous.json $(DESTDIR)$(PREFIX)/share/rendezvous/

clean:
	rm -rf build build-san

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
