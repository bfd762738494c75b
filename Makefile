# The two commands of the README: `make run` and `make test`. Both install what is missing first.
BUILD_DIR ?= build
SANITIZE_DIR ?= build-sanitize
JOBS ?= $(shell nproc)
LATHE_PORT ?= 5000
LATHE_DATA_DIR ?= ./lathe-data

.PHONY: deps build run test test-sanitize bench clean

deps:
	bash scripts/install-deps.sh

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release

build: deps $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) -j $(JOBS)

run: build
	$(BUILD_DIR)/lathe server --host 127.0.0.1 --port $(LATHE_PORT) --data-dir $(LATHE_DATA_DIR)

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

# The same tests under AddressSanitizer and UndefinedBehaviorSanitizer.
test-sanitize: deps
	cmake -S . -B $(SANITIZE_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DLATHE_SANITIZE=ON
	cmake --build $(SANITIZE_DIR) -j $(JOBS)
	cd $(SANITIZE_DIR) && ctest --output-on-failure -j $(JOBS)

bench: build
	cmake -S . -B $(BUILD_DIR)-bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DLATHE_BUILD_BENCH=ON -DLATHE_BUILD_TESTS=OFF
	cmake --build $(BUILD_DIR)-bench -j $(JOBS) --target evaluator_bench drift_bench
	bash bench/tracking/run.sh
	bash bench/serving/run.sh
	bash bench/features/run.sh
	bash bench/features/online/run.sh
	bash bench/monitoring/serving_log/run.sh
	LATHE_DRIFT_BENCH=$(BUILD_DIR)-bench/bench/drift_bench bash bench/monitoring/run.sh

clean:
	rm -rf $(BUILD_DIR) $(SANITIZE_DIR)
