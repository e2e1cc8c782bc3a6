# digitnet — the two commands a newcomer needs:
#   make run    install what is missing, fetch MNIST, build, run the classic experiment
#   make test   install what is missing, build, run the whole suite (plain and ASan+UBSan)
# Other targets: make (build only), make bench, make fuzz, make clean.

BUILD      ?= build
BUILD_SAN  ?= build-san
JOBS       ?= 2
CMAKE_ARGS ?=

.PHONY: all build run test test-plain test-san bench fuzz deps data clean

all: build

deps:
	@scripts/deps.sh build

data:
	@scripts/fetch_mnist.sh data/mnist

$(BUILD)/Makefile:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_ARGS)

build: $(BUILD)/Makefile
	@cmake --build $(BUILD) -j$(JOBS)

run: deps data build
	$(BUILD)/digitnet reproduce --data data/mnist --out out

test:
	@scripts/deps.sh test
	@scripts/fetch_mnist.sh data/mnist
	@$(MAKE) --no-print-directory test-plain test-san

test-plain: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

$(BUILD_SAN)/Makefile:
	cmake -S . -B $(BUILD_SAN) -DCMAKE_BUILD_TYPE=Debug -DDN_SANITIZE=ON $(CMAKE_ARGS)

# ASan + UBSan: any report fails the test (halt_on_error); leaks count as errors.
test-san: $(BUILD_SAN)/Makefile
	@cmake --build $(BUILD_SAN) -j$(JOBS)
	cd $(BUILD_SAN) && ASAN_OPTIONS=halt_on_error=1:detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  DN_SANITIZED=1 ctest --output-on-failure -j$(JOBS)

bench:
	@scripts/deps.sh bench
	@scripts/fetch_mnist.sh data/mnist
	@$(MAKE) --no-print-directory build
	bench/run.sh

fuzz:
	@scripts/deps.sh fuzz
	fuzz/run.sh

clean:
	rm -rf $(BUILD) $(BUILD_SAN) build-fuzz
