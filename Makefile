# scenetools: `make all` runs the Scene pipeline, `make test` the tests. Both set up everything first.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# The data: the built-in demo world unless DATA= is given (e.g. DATA=../shared/data/iwildcam-scene).
DATA ?=
OUT ?= out
SEED ?= 0
DEVICE ?= cpu
ifeq ($(strip $(DATA)),)
  DATA_PATH := $(OUT)/demo
  CLASSES ?= coyote,raccoon
  TRAIN ?= 101,102
  TEST ?= 201
else
  DATA_PATH := $(DATA)
  CLASSES ?= coyote,raccoon
  TRAIN ?= 43,46
  TEST ?= 130
endif
export PYTHONUNBUFFERED := 1

# LIME for the site: N images per environment (explain-all does every image, with resume)
PER_ENV ?= 6
NUM_SAMPLES ?= 1000
TOP_K ?= 9
IRM_PARAMS ?=
ERM_PARAMS ?=

.PHONY: all install test browser split train predict eval explain site explain-all reproduce bench clean
.DEFAULT_GOAL := all

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

install: $(STAMP)

# Chromium for the site's browser test (Debian's package; Playwright drives it, no browser download)
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser test"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
	    --no-install-recommends chromium >/dev/null \
	  || echo "could not install chromium: the browser test will skip (and fail under SCENE_REQUIRE_BROWSER=1)"; }

test: install browser
	$(BIN)/python -m pytest -q

$(OUT)/demo/annotations.json: | install
	$(BIN)/scene-synth --out $(OUT)/demo --seed $(SEED) --quiet

ifeq ($(strip $(DATA)),)
$(OUT)/split.jsonl: $(OUT)/demo/annotations.json
endif
$(OUT)/split.jsonl: | install
	$(BIN)/scene-split $(DATA_PATH) --classes $(CLASSES) --train $(TRAIN) --test $(TEST) \
	    --seed $(SEED) --report $(OUT)/split-report.json -o $@

$(OUT)/erm.pt: $(OUT)/split.jsonl
	$(BIN)/scene-train $< --method erm $(ERM_PARAMS) --seed $(SEED) --device $(DEVICE) -o $@

$(OUT)/irm.pt: $(OUT)/split.jsonl
	$(BIN)/scene-train $< --method irm $(IRM_PARAMS) --seed $(SEED) --device $(DEVICE) -o $@

$(OUT)/preds.jsonl: $(OUT)/erm.pt $(OUT)/irm.pt
	$(BIN)/scene-predict $(OUT)/split.jsonl -m erm=$(OUT)/erm.pt -m irm=$(OUT)/irm.pt --device $(DEVICE) -o $@

$(OUT)/eval.txt: $(OUT)/preds.jsonl
	$(BIN)/scene-eval $< --json > $(OUT)/eval.json
	$(BIN)/scene-eval $< | tee $@

# written to .part with --resume, renamed when complete: an interrupted run picks up where it stopped
$(OUT)/explained.jsonl: $(OUT)/preds.jsonl
	$(BIN)/scene-lime $< --per-env $(PER_ENV) --num-samples $(NUM_SAMPLES) --top-k $(TOP_K) --seed $(SEED) \
	    --device $(DEVICE) --maps $(OUT)/superpixels --resume -o $@.part
	mv $@.part $@

$(OUT)/site/index.html: $(OUT)/explained.jsonl $(OUT)/eval.txt
	$(BIN)/scene-render $< --out $(OUT)/site --top-k $(TOP_K)

split: $(OUT)/split.jsonl
train: $(OUT)/erm.pt $(OUT)/irm.pt
predict: $(OUT)/preds.jsonl
eval: $(OUT)/eval.txt
explain: $(OUT)/explained.jsonl
site: $(OUT)/site/index.html

all: site
	@echo "done: open $(OUT)/site/index.html"

# every image of the split, resumable: rerun after an interruption
explain-all: $(OUT)/preds.jsonl
	$(BIN)/scene-lime $< --num-samples $(NUM_SAMPLES) --top-k $(TOP_K) --seed $(SEED) --device $(DEVICE) \
	    --maps $(OUT)/superpixels --resume -o $(OUT)/explained-all.jsonl
	$(BIN)/scene-render $(OUT)/explained-all.jsonl --out $(OUT)/site-all --top-k $(TOP_K)

SHARED_DATA ?= ../shared/data/iwildcam-scene
SEEDS ?= 5
reproduce: install
	$(BIN)/python scripts/reproduce.py --data $(SHARED_DATA) --seeds $(SEEDS) --rotations all --out $(OUT)/reproduce.jsonl

bench: install
	$(BIN)/python benchmarks/features_speed.py --data $(SHARED_DATA)
	$(BIN)/python benchmarks/lime_speed.py --data $(SHARED_DATA) --images 10

clean:
	rm -rf $(OUT)
