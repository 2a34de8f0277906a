# The two commands of the README: `make demo` and `make test`. Both create .venv on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PYTHONHASHSEED := 0

.PHONY: demo test test-families lint install clean bench

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, exactly pinned: the CPU wheel on disk, never a CUDA build.
	$(BIN)/pip install -q --no-compile torch==2.13.0
	$(BIN)/pip install -q --no-compile -e '.[dev]'
	# Byte-compiled here on every core, where pip compiles on one (`make install` 123 s -> 95 s
	# on 2 cores); as pip does, a file this Python cannot compile (torch ships some
	# Python 3.12-only ones) is skipped.
	$(BIN)/python -c "import compileall, sysconfig; \
		compileall.compile_dir(sysconfig.get_paths()['purelib'], quiet=2, workers=0)"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/smfa demo

# Two worker processes, each test file on one of them (its module fixtures built once), the
# longest files first (tests/conftest.py's LONGEST_FIRST), so both finish together.
test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/pytest -n 2 --dist loadfile --no-loadscope-reorder --durations=15

# Tiny Hugging Face families (LLaVA-1.5, Gemma 3, Idefics3) unlearned and evaluated end to end.
test-families: $(STAMP)
	$(BIN)/pytest -m families --durations=0

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_pipeline.py

clean:
	rm -rf $(VENV) runs
