# Lifeboat: `make demo` and `make test` do all set-up on a fresh Debian 12 machine.
BUILD ?= build
SANITIZE_BUILD ?= build-asan
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=RelWithDebInfo

.PHONY: all deps deps-test deps-testbed build build-tests test unit test-sanitize test-stress demo demo-live \
	demo-real testbed bench bench-etcd clean

all: build

# Debian packages, by what is done: build only / and the tests / and the Kubernetes test bed.
deps:
	@./scripts/install-deps.sh
deps-test:
	@./scripts/install-deps.sh --test
deps-testbed:
	@./scripts/install-deps.sh --testbed

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

# The binaries (and the tests too when their dependencies are installed).
build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

build-tests: deps-test $(BUILD)/CMakeCache.txt
	cmake -S . -B $(BUILD) -DBUILD_TESTING=ON >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

testbed: deps-testbed
	@./testbed/build.sh

unit: build-tests
	cd $(BUILD) && ctest --output-on-failure -L unit -j $(JOBS)

test: build-tests testbed
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The unit and integration tests (every parser's fuzz and mutation tests among them) built with
# AddressSanitizer + UndefinedBehaviorSanitizer in $(SANITIZE_BUILD). The end-to-end tests are
# left out: they run whole clusters, and their code paths are the integration tests' ones.
test-sanitize: deps-test testbed
	cmake -S . -B $(SANITIZE_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=ON \
	  -DLIFEBOAT_SANITIZE=ON >/dev/null
	cmake --build $(SANITIZE_BUILD) -j $(JOBS) --target tests-no-e2e
	cd $(SANITIZE_BUILD) && ASAN_OPTIONS=$${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
	  UBSAN_OPTIONS=$${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
	  ctest --output-on-failure -LE e2e -j $(JOBS)

# The busy-machine check: the whole suite three times in a row while stress-ng loads every core.
test-stress: build-tests testbed
	@./scripts/install-deps.sh --stress
	@./scripts/test-stress.sh $(BUILD)

demo: build
	@./scripts/demo.sh

demo-live: build testbed
	@./scripts/demo-live.sh

# The seed's disaster on a real node (kubelet + containerd + runc), narrated and timed.
demo-real: build testbed
	@./scripts/demo-real.sh

bench: build testbed
	@./bench/run.sh

# The etcd client and snapshot reader over 100 000 keys on a real etcd (seconds, median of 3).
bench-etcd: build-tests
	cmake --build $(BUILD) -j $(JOBS) --target bench_etcd_scale
	$(BUILD)/bench/bench_etcd_scale

clean:
	rm -rf $(BUILD) $(SANITIZE_BUILD)
