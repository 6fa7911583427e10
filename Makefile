# Lifeboat: `make demo` and `make test` do all set-up on a fresh Debian 12 machine.
BUILD ?= build
JOBS ?= $(shell nproc)

.PHONY: all deps build test unit demo demo-live demo-real testbed bench clean

all: build

deps:
	@./scripts/install-deps.sh --testbed

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

testbed: deps
	@./testbed/build.sh

unit: build
	cd $(BUILD) && ctest --output-on-failure -L unit -j $(JOBS)

test: build testbed
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

demo: build
	@./scripts/demo.sh

demo-live: build testbed
	@./scripts/demo-live.sh

# The seed's disaster on a real node (kubelet + containerd + runc), narrated and timed.
demo-real: build testbed
	@./scripts/demo-real.sh

bench: build testbed
	@./bench/run.sh

clean:
	rm -rf $(BUILD)
