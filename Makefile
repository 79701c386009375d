# The two commands: `make run` and `make test`. Everything else is a helper.
BUILD ?= build
JOBS ?= 2
DATA ?= .run
PORT ?= 6443

.PHONY: all deps configure build run test unit fuzz bench format clean stop down fresh-check

all: build

deps:
	@scripts/deps.sh

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo

configure: deps $(BUILD)/build.ninja

build: configure
	cmake --build $(BUILD) -j$(JOBS)

# `minik8s up` (control plane + agent + private containerd on this host) and
# the demo in examples/demo/. Builds only the two binaries (the tests are
# built by `make test`). Each long step says what it does; the last line says
# how long the whole run took.
RUN_T0 := $(shell date +%s)
run:
	@echo "== make run 1/4: Debian packages (scripts/deps.sh)"
	@scripts/deps.sh
	@echo "== make run 2/4: build minik8s, mkctl and minik8s-submitter in $(BUILD) (-j$(JOBS); the first build takes minutes)"
	@$(MAKE) -s --no-print-directory $(BUILD)/build.ninja
	cmake --build $(BUILD) -j$(JOBS) --target minik8s mkctl minik8s-submitter
	@scripts/run.sh $(DATA) $(PORT) $(RUN_T0)

stop:
	scripts/run.sh --stop $(DATA)

down:
	scripts/run.sh --down $(DATA)

# The whole suite: unit + integration + e2e (ctest), compatibility with real
# kubectl and the Python client, and a bounded fuzz run.
test: build
	scripts/test.sh $(BUILD)

# deps.sh + the build of minik8s and mkctl in a minimal Debian 12 root
# (mmdebstrap); `make test` runs it when its inputs changed (docs/development.md).
fresh-check:
	scripts/fresh_root_check.sh

bench: build
	scripts/bench.sh $(BUILD)

format:
	find include src cmd test bench -name '*.h' -o -name '*.cc' | xargs clang-format -i

clean:
	rm -rf $(BUILD)
