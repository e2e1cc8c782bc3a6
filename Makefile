# digitnet — the two commands a newcomer needs:
#   make run    install what is missing, fetch MNIST, build, run the classic experiment
#   make test   install what is missing, build, run the whole suite (plain and ASan+UBSan)
# Other targets: make (build only), make install [PREFIX=/usr/local], make bench, make fuzz, make clean.
#   make reproduce-fedavg   McMahan et al.'s FedAvg table (MNIST 2NN, E = 1, B = 10) in out/fedavg: about an
#                           hour on 2 cores; FEDAVG_ARGS=--quick for C = 0.1 only (about 3 minutes)
#   make reproduce-robust   attacks x defences x malicious fractions in FedAvg (MNIST 2NN, K = 100, C = 0.1,
#                           IID and Dirichlet 0.5) in out/robust: under 30 minutes on 2 cores;
#                           ROBUST_ARGS=--quick for IID, 20 % malicious, 20 rounds (about a minute)
#   make bench-compare BASE=<rev>   this tree against revision <rev> (required), both built alike and run
#                                   interleaved in one run: digitnet's own workloads as ratios head/base,
#                                   each judged within 3% or not (BENCH_REPS, default 7; bench/compare.sh)

BUILD      ?= build
BUILD_SAN  ?= build-san
JOBS       ?= 2
CMAKE_ARGS ?=
PREFIX     ?= /usr/local

.PHONY: all build install run reproduce-fedavg reproduce-robust test test-plain test-san fresh-check bench bench-compare fuzz deps data clean

all: build

deps:
	@scripts/deps.sh build

data:
	@scripts/fetch_mnist.sh data/mnist

$(BUILD)/Makefile:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_ARGS)

build: $(BUILD)/Makefile
	@cmake --build $(BUILD) -j$(JOBS)

# Headers, libraries (shared and static), digitnet.pc, the CMake package, the program, its man page
# (digitnet.1, made from the --help texts) and its bash completion.
install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

run: deps data build
	$(BUILD)/digitnet reproduce --data data/mnist --out out
	@echo "make run: done - the report is out/report.html (out/report.md, a CSV per run and the figures beside it)"

reproduce-robust: deps data build
	$(BUILD)/digitnet reproduce --experiment robust --data data/mnist --out out/robust $(ROBUST_ARGS)
	@echo "make reproduce-robust: done - the report is out/robust/report.html (report.md, the CSVs and figures beside it)"

reproduce-fedavg: deps data build
	$(BUILD)/digitnet reproduce --experiment fedavg --data data/mnist --out out/fedavg $(FEDAVG_ARGS)
	@echo "make reproduce-fedavg: done - the report is out/fedavg/report.html (report.md, the CSVs and figures beside it)"

# The suite twice, plain and under ASan + UBSan (any report fails its test; leaks count),
# with the fresh-machine check (scripts/fresh_machine_check.sh: several minutes, root)
# beside them, ending with one line: "total: N passed, N failed, N skipped". On a committed
# tree the plain suite is the one the fresh root runs (the same commit, not run twice).
# test-plain and test-san leave the fresh-machine check out.
test:
	@BUILD=$(BUILD) BUILD_SAN=$(BUILD_SAN) JOBS=$(JOBS) CMAKE_ARGS="$(CMAKE_ARGS)" scripts/test.sh all

test-plain:
	@BUILD=$(BUILD) BUILD_SAN=$(BUILD_SAN) JOBS=$(JOBS) CMAKE_ARGS="$(CMAKE_ARGS)" scripts/test.sh plain

test-san:
	@BUILD=$(BUILD) BUILD_SAN=$(BUILD_SAN) JOBS=$(JOBS) CMAKE_ARGS="$(CMAKE_ARGS)" scripts/test.sh san

# Only the fresh-machine check: the README's two commands in a new Debian root filesystem.
fresh-check:
	@scripts/fresh_machine_check.sh

bench:
	@scripts/deps.sh bench
	@scripts/fetch_mnist.sh data/mnist
	@$(MAKE) --no-print-directory build
	bench/run.sh

# The working tree (in $(BUILD)) against BASE (built in a temporary worktree under /var/tmp).
bench-compare:
	@[ -n "$(BASE)" ] || { echo "make bench-compare: name the revision to compare with: make bench-compare BASE=<rev>" >&2; exit 2; }
	@scripts/deps.sh build
	@BUILD=$(BUILD) JOBS=$(JOBS) CMAKE_ARGS="$(CMAKE_ARGS)" bench/compare.sh "$(BASE)"

fuzz:
	@scripts/deps.sh fuzz
	fuzz/run.sh

clean:
	rm -rf $(BUILD) $(BUILD_SAN) build-fuzz
