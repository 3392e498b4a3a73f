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

.PHONY: all install test split clean
.DEFAULT_GOAL := all

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

install: $(STAMP)

test: install
	$(BIN)/python -m pytest -q

$(OUT)/demo/annotations.json: | install
	$(BIN)/scene-synth --out $(OUT)/demo --seed $(SEED) --quiet

ifeq ($(strip $(DATA)),)
$(OUT)/split.jsonl: $(OUT)/demo/annotations.json
endif
$(OUT)/split.jsonl: | install
	$(BIN)/scene-split $(DATA_PATH) --classes $(CLASSES) --train $(TRAIN) --test $(TEST) \
	    --seed $(SEED) --report $(OUT)/split-report.json -o $@

split: $(OUT)/split.jsonl

all: split

clean:
	rm -rf $(OUT)
