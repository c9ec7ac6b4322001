# The README's commands: `make run` and `make test`. Plain `make` builds build/hearth.
PYTHON ?= /usr/bin/python3
JOBS ?= $(shell nproc)
DATA ?= data
SERVER_NAME ?= localhost

.PHONY: all build deps run test unit api api-pg interop crash backup-check test-build format clean install \
	fuzz fuzz-build test-valgrind tsan

all: build

deps:
	@scripts/install-deps

build/Makefile:
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: build/Makefile
	cmake --build build -j $(JOBS) --target hearth

build-test/Makefile:
	cmake -S . -B build-test -DCMAKE_BUILD_TYPE=Debug -DHEARTH_SANITIZE=ON

test-build: build-test/Makefile
	cmake --build build-test -j $(JOBS)

$(DATA)/homeserver.yaml:
	mkdir -p $(DATA)
	build/hearth generate-config --server-name $(SERVER_NAME) --data-dir $(abspath $(DATA)) > $@.tmp
	mv $@.tmp $@

run: deps build $(DATA)/homeserver.yaml
	build/hearth serve --config $(DATA)/homeserver.yaml

unit: test-build
	cd build-test && ctest --output-on-failure -j $(JOBS)

api: test-build
	HEARTH_BIN=$(abspath build-test/hearth) $(PYTHON) -m pytest -q tests/api

# The API suite again on PostgreSQL: a private cluster on a free port (scripts/with-pg).
api-pg: test-build
	HEARTH_BIN=$(abspath build-test/hearth) scripts/with-pg sh -c \
	    'build-test/test_store && $(PYTHON) -m pytest -q tests/api'

# Backup check (issue 14): a backup taken under load restores to a server that passes the
# whole API suite (scripts/backup-check; docs/backup.md). `make test` runs it too.
backup-check: test-build
	HEARTH_BIN=$(abspath build-test/hearth) $(PYTHON) scripts/backup-check

# Crash safety with 100 SIGKILLs per engine (make test runs 8 per engine).
crash: test-build
	HEARTH_CRASH_KILLS=100 HEARTH_BIN=$(abspath build-test/hearth) $(PYTHON) -m pytest -q -s tests/crash
	HEARTH_CRASH_KILLS=100 HEARTH_BIN=$(abspath build-test/hearth) scripts/with-pg $(PYTHON) -m pytest -q -s tests/crash

interop: test-build tests/interop/js/node_modules tests/interop/appservice/node_modules
	HEARTH_BIN=$(abspath build-test/hearth) $(PYTHON) -m pytest -q tests/interop

tests/interop/js/node_modules: tests/interop/js/package-lock.json
	npm ci --prefix tests/interop/js --no-audit --no-fund
	touch $@

# matrix-appservice-bridge for tests/interop/test_appservice_sdk.py (application services).
tests/interop/appservice/node_modules: tests/interop/appservice/package-lock.json
	npm ci --prefix tests/interop/appservice --no-audit --no-fund
	touch $@

test: deps test-build tests/interop/js/node_modules tests/interop/appservice/node_modules fuzz-build
	cd build-test && ctest --output-on-failure -j $(JOBS)
	FUZZ_JOBS=2 scripts/run-fuzz 30
	HEARTH_BIN=$(abspath build-test/hearth) $(PYTHON) -m pytest -q -p no:cacheprovider tests/api tests/interop tests/crash
	HEARTH_BIN=$(abspath build-test/hearth) scripts/with-pg sh -c \
	    'build-test/test_store && $(PYTHON) -m pytest -q -p no:cacheprovider tests/api tests/crash'
	HEARTH_BIN=$(abspath build-test/hearth) $(PYTHON) scripts/backup-check

# Reliability (issue 12): libFuzzer drivers (fuzz/, clang, ASan+UBSan, build-fuzz/), each run
# for FUZZ_SECONDS from its committed seed corpus; `make test` runs each for 30 s, two at a
# time (10 drivers: about 3 min).
FUZZ_SECONDS ?= 60
build-fuzz/Makefile:
	CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DHEARTH_FUZZ=ON

fuzz-build: build-fuzz/Makefile
	cmake --build build-fuzz -j $(JOBS) --target fuzzers

fuzz: fuzz-build
	scripts/run-fuzz $(FUZZ_SECONDS)

# Reliability (issue 12): the API suite's server under valgrind memcheck, on a subset (every
# request is ~20-50x slower there); any memcheck error or definite leak fails the test.
VALGRIND_TESTS ?= tests/api/test_versions.py tests/api/test_whoami.py tests/api/test_login.py \
	tests/api/test_room_send.py
test-valgrind: build
	HEARTH_BIN=$(abspath scripts/valgrind-hearth) HEARTH_VALGRIND_BIN=$(abspath build/hearth) \
	    HEARTH_START_TIMEOUT=120 HEARTH_STOP_TIMEOUT=120 HEARTH_SLOW_STOP=60 \
	    $(PYTHON) -m pytest -q -rfE -p no:cacheprovider $(VALGRIND_TESTS)

# ThreadSanitizer (issue 12): the threaded parts (notifier, group-commit writer and its
# readers) in their unit tests, then a few API files against a TSan server (build-tsan/).
TSAN_TESTS ?= tests/api/test_sync.py tests/api/test_room_send.py tests/api/test_typing.py \
	tests/api/test_receipts.py tests/api/test_to_device.py
TSAN_OPTS = halt_on_error=1 suppressions=$(abspath scripts/tsan.supp)
build-tsan/Makefile:
	cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DHEARTH_TSAN=ON

tsan: build-tsan/Makefile
	cmake --build build-tsan -j $(JOBS) --target hearth test_notifier test_store test_password
	cd build-tsan && TSAN_OPTIONS="$(TSAN_OPTS)" ./test_notifier && TSAN_OPTIONS="$(TSAN_OPTS)" ./test_store && \
	    TSAN_OPTIONS="$(TSAN_OPTS)" ./test_password
	TSAN_OPTIONS="$(TSAN_OPTS)" HEARTH_BIN=$(abspath build-tsan/hearth) HEARTH_SLOW_STOP=15 \
	    $(PYTHON) -m pytest -q -p no:cacheprovider $(TSAN_TESTS)

format:
	clang-format -i $$(find src tests/unit -name '*.[ch]')

clean:
	rm -rf build build-test build-fuzz build-tsan

# Operating Hearth (issue 14; docs/install.md): the binary, the systemd unit and the docs.
# DESTDIR stages the files for a package; without it, as root, the `hearth` system user the
# unit runs as is created too. BIN picks another build of the binary.
PREFIX ?= /usr/local
SYSTEMD_UNIT_DIR ?= /etc/systemd/system
BIN ?= build/hearth

build/hearth: build

install: $(BIN)
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/hearth
	# modules (issue 12): hearth looks for them in ../lib/hearth from its executable.
	install -d $(DESTDIR)$(PREFIX)/lib/hearth
	install -m 0644 $(dir $(BIN))hearth-*.so $(DESTDIR)$(PREFIX)/lib/hearth/
	install -d $(DESTDIR)$(SYSTEMD_UNIT_DIR) $(DESTDIR)$(PREFIX)/share/doc/hearth
	sed 's|@PREFIX@|$(PREFIX)|g' contrib/systemd/hearth.service > $(DESTDIR)$(SYSTEMD_UNIT_DIR)/hearth.service
	chmod 0644 $(DESTDIR)$(SYSTEMD_UNIT_DIR)/hearth.service
	install -m 0644 docs/*.md $(DESTDIR)$(PREFIX)/share/doc/hearth/
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then \
	    id hearth >/dev/null 2>&1 || useradd --system --user-group --home-dir /var/lib/hearth \
	        --no-create-home --shell /usr/sbin/nologin hearth; \
	    install -d -m 0750 -o root -g hearth /etc/hearth; \
	    if [ -d /run/systemd/system ]; then systemctl daemon-reload; fi; \
	fi
