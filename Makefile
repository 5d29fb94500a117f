# llama-herd: two commands matter. `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      ?= .venv
PY        := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/collections
DEMO_INV  ?= inventory/demo
# Molecule scenarios run by `make test`, in this order (llama_cpp warms the
# controller-side ccache that nginx_lb and cluster build through).
MOLECULE_SCENARIOS ?= default ollama llama_cpp nginx_lb distributed_llama gpu_router firewall monitoring cluster
ARCH      := $(shell uname -m | sed 's/x86_64/amd64/;s/aarch64/arm64/')

.PHONY: help
help: ## list targets
	@grep -E '^[a-zA-Z_%-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

# requirements.txt: what a user's controller needs; requirements-dev.txt: the
# test, lint and docs tooling. Both pinned, both in .venv.
$(VENV)/.installed: requirements.txt requirements-dev.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt -r requirements-dev.txt
	touch $@

.PHONY: venv
venv: $(VENV)/.installed ## controller and test tooling in .venv (requirements.txt + requirements-dev.txt)

.PHONY: system-deps
system-deps: ## podman, runc, debootstrap (+ runc as podman's runtime), promtool (Debian prometheus)
	$(PY) tests/harness/herd_hosts.py tools

.PHONY: image
image: venv system-deps ## the Debian 12 systemd image for test hosts (cached by recipe)
	$(PY) tests/harness/herd_hosts.py image --arch $(ARCH)

# ---------------------------------------------------------------- the demo
# The demo hosts reach no internet: tests/harness/demo_artifacts.py makes
# every artifact site.yml installs (stand-ins only for the Ollama binary and
# distributed-llama's source; OLLAMA_ARCHIVE / DLLAMA_SRC take real ones) and
# writes the role variables to $(DEMO_VARS); lb1 serves the model files.
# The orchestrator's gateway secrets are random, in Ansible Vault, made once
# (tests/harness/demo_secrets.py).
DEMO_VARS ?= .cache/demo/vars.yml
DEMO_VAULT := -e @.cache/demo/vault.yml --vault-password-file .cache/demo/vault-password
.PHONY: demo
demo: image ## bring up the demo cluster, run site.yml against it, print endpoints and curls
	$(PY) tests/harness/herd_hosts.py up -i $(DEMO_INV)
	$(PY) tests/harness/demo_artifacts.py >/dev/null
	$(PY) tests/harness/demo_secrets.py >/dev/null
	ansible-playbook -i $(DEMO_INV) playbooks/demo_scaffold.yml -e @$(DEMO_VARS)
	ansible-playbook -i $(DEMO_INV) site.yml -e @$(DEMO_VARS) $(DEMO_VAULT)
	@$(PY) tests/harness/demo_summary.py -i $(DEMO_INV)

.PHONY: down
down: venv ## remove the demo cluster's hosts and network
	$(PY) tests/harness/herd_hosts.py down -i $(DEMO_INV)

.PHONY: plan
plan: venv ## print the plan for INV (default: the demo inventory); contacts no host
	ansible-playbook -i $(or $(INV),$(DEMO_INV)) playbooks/plan.yml

# ---------------------------------------------------------------- tests
.PHONY: test
# unit-controller, not unit: make galaxy runs tests/unit/plugins/module_utils/
# and modules/ under ansible-test units (the collection layout), so they do not
# run twice.
test: lint unit-controller contract integration galaxy molecule ## every test: lint, unit, contract, integration, galaxy, molecule

.PHONY: lint
lint: venv ## ansible-lint (production profile), yamllint, ruff
	yamllint --strict .
	ruff check .
	ruff format --check .
	ansible-lint --profile production

.PHONY: unit
unit: venv ## pytest on plugins (tests/unit)
	pytest -q tests/unit

.PHONY: unit-controller
unit-controller: venv ## tests/unit but plugins/module_utils and plugins/modules (make galaxy runs those)
	pytest -q tests/unit --ignore=tests/unit/plugins/module_utils --ignore=tests/unit/plugins/modules

# The Ollama API contract (tests/contract/ollama): against the stand-in, or
# a real server with OLLAMA_URL=http://HOST:11434 (it pulls two small models).
.PHONY: contract
contract: venv ## Ollama API contract suite (stand-in; a real server with OLLAMA_URL)
	pytest -q tests/contract

# The cheap real CUDA check in integration compiles for sm_70, which needs a
# toolkit that still builds Volta: Debian 12 non-free's CUDA 11.8.
.PHONY: volta-toolkit
volta-toolkit: ## Debian non-free's nvidia-cuda-toolkit 11.8 (/usr/bin/nvcc), if missing
	$(PY) tests/harness/herd_hosts.py volta-toolkit

.PHONY: integration
integration: venv image volta-toolkit ## tests that start real programs (tests/integration)
	HERD_REQUIRE_VOLTA_NVCC=1 pytest -q tests/integration

# The cluster scenario (site.yml on seven hosts, the fault matrix, add/remove
# a node) is in make test; `HERD_CLUSTER_FAULTS=0 make molecule-cluster` skips
# the fault matrix for a quicker local run.
# Opt-in: the distributed_llama scenario (root + 3 workers) against a real
# checkout, e.g. DLLAMA_SRC=/tmp/distributed-llama from `git archive` of the
# pinned dllama_version: the role's patches, real-format model files with
# random weights, the real dllama-api answering. CI keeps the stand-in.
.PHONY: test-dllama-real
test-dllama-real: image ## opt-in: molecule distributed_llama against a real checkout, real inference (DLLAMA_SRC=/path)
	@test -d "$(DLLAMA_SRC)/src" || { echo "Set DLLAMA_SRC to a distributed-llama checkout (README.md says how to fetch it)."; exit 2; }
	DLLAMA_SRC=$(abspath $(DLLAMA_SRC)) molecule test -s distributed_llama

# Opt-in too: the arm64 scenario; the emulated image takes ~15 min to build here.
.PHONY: molecule-distributed_llama_arm64
molecule-distributed_llama_arm64: image ## opt-in: x86_64 dllama root + arm64 worker under qemu (slow)
	$(PY) tests/harness/herd_hosts.py image --arch arm64
	molecule test -s distributed_llama_arm64

# Opt-in: llama.cpp b11312 with the role's CUDA flags for a V100 (sm_70),
# with a toolkit that still builds Volta (Debian 12's nvidia-cuda-toolkit
# 11.8, or HERD_NVCC=<a 12.x nvcc>). About an hour cold on 2 cores; no GPU
# needed. tests/integration/test_cuda_volta_configure.py is the cheap check.
.PHONY: cuda-volta-build
cuda-volta-build: venv ## opt-in: full CUDA build of llama.cpp for sm_70 (slow; needs a CUDA 11.x/12.x nvcc)
	nice -n 15 $(PY) tests/harness/cuda_build.py build --arch 70 --jobs 2

# Opt-in: llama.cpp b11312 with the role's HIP flags for gfx1100 and gfx1151,
# one HIP translation unit compiled, in a Debian forky root with Debian's
# ROCm 6.4 (Debian 12 and 13 ship HIP 5.x, too old). Makes the root first:
# about 0.5 GB to download, 5.5 GB in /var/tmp; root only (debootstrap,
# chroot). bench/results/hip-debian-2026-12-05.md.
HERD_HIP_ROOT ?= /var/tmp/herd-hip-forky
.PHONY: hip-check
hip-check: venv ## opt-in: HIP configure + one .cu for gfx1100;gfx1151 with Debian forky's ROCm (root; 5.5 GB)
	HERD_HIP_ROOT=$(HERD_HIP_ROOT) nice -n 10 $(PY) tests/harness/hip_build.py rootfs
	HERD_HIP_ROOT=$(HERD_HIP_ROOT) nice -n 10 pytest -q tests/integration/test_hip_configure.py

# Opt-in: the whole llama_cpp role on a host declared as a V100S: Debian's
# CUDA 11.8 installed by the role, llama.cpp compiled for sm_70 (an hour or
# more cold on 2 cores; ccache and .debs kept under .cache/ for re-runs).
# bench/results/cuda-role-build-*.md.
.PHONY: molecule-llama_cpp_cuda
molecule-llama_cpp_cuda: image ## opt-in: the llama_cpp role compiles CUDA for sm_70 on a test host (slow)
	mkdir -p .cache/apt-cuda .cache/ccache-cuda
	nice -n 10 molecule test -s llama_cpp_cuda

# Opt-in: a toolkit change on a built host, a 3090 (8.6) moved from Debian's
# CUDA 11.8 to a CUDA 13.0 the user installed (NVIDIA's wheels from PyPI laid
# out as /usr/local/cuda-13.0 by tests/harness/cuda_wheels.py, 0.5 GB): two
# cold CUDA builds, well over an hour on 2 cores. bench/results/cuda-switch-*.md.
.PHONY: molecule-llama_cpp_cuda_switch
molecule-llama_cpp_cuda_switch: image ## opt-in: a built CUDA host moves from toolkit 11.8 to 13.0 (slow)
	mkdir -p .cache/apt-cuda .cache/ccache-cuda
	$(PY) tests/harness/cuda_wheels.py prefix
	nice -n 10 molecule test -s llama_cpp_cuda_switch

.PHONY: molecule
molecule: image ## every molecule scenario
	@set -e; for s in $(MOLECULE_SCENARIOS); do \
	  echo "=== molecule test -s $$s"; t0=$$(date +%s); molecule test -s $$s; \
	  echo "=== molecule test -s $$s: passed in $$(( $$(date +%s) - t0 )) s"; done

.PHONY: molecule-%
molecule-%: image ## one molecule scenario, e.g. make molecule-default
	molecule test -s $*

# What a maintainer meets when publishing, offline once the venvs exist (in
# make test; 2.5 minutes here with the venv made, under load): galaxy-importer on the built
# artifact, then ansible-test sanity and antsibull-docs lint-collection-docs on
# it installed, the docs site (docs) and ansible-test units on the module_utils/
# and modules/ tests (units-collection).
# Logs in .cache/galaxy/. tools/galaxy_check.py says how each runs offline.
GALAXY_VENV ?= .cache/galaxy-venv
$(GALAXY_VENV)/.installed: requirements-galaxy.txt requirements.txt
	python3 -m venv $(GALAXY_VENV)
	$(GALAXY_VENV)/bin/python -m pip install -q -r requirements-galaxy.txt "$$(grep '^ansible-core==' requirements.txt)"
	touch $@

.PHONY: galaxy
galaxy: venv $(GALAXY_VENV)/.installed ## galaxy-importer, ansible-test sanity, antsibull-docs lint and site, ansible-test units
	$(PY) tools/galaxy_check.py --tools-venv $(GALAXY_VENV) --work .cache/galaxy

# The docs site antsibull-docs builds for the collection (12 s here; part of
# make galaxy too): .cache/galaxy/docs-site/build/html; a broken link inside
# the collection fails it (links to docs.ansible.com stay unresolved: offline).
.PHONY: docs
docs: venv $(GALAXY_VENV)/.installed ## the collection's docs site (antsibull-docs + Sphinx), broken links fail it
	$(PY) tools/galaxy_check.py --only site --tools-venv $(GALAXY_VENV) --work .cache/galaxy

# ansible-test units on all of tests/unit/plugins/ in the collection layout
# (a copy of the checkout under ansible_collections/llamaherd/cluster):
# 1.5 minutes here, each test forked. make galaxy runs the module_utils/ and
# modules/ groups only (managed-node code: the ones the layout changes), and
# make test leaves those two out of its pytest run (unit-controller).
.PHONY: units-collection
units-collection: venv ## ansible-test units on all of tests/unit/plugins/ in the collection layout
	$(PY) tools/galaxy_check.py --only units --units-targets tests/unit/plugins/ --work .cache/galaxy

# The other ansible-core releases meta/runtime.yml declares (make test covers
# the pinned one): each in a venv of its own under .cache/matrix, Python from
# pyenv; lint, unit, the plan on every example inventory, molecule default and
# ansible-test sanity. 15-40 minutes here once the venvs exist (by load), so
# not in make test; results go to bench/results/version-matrix-<date>.md.
.PHONY: test-matrix
test-matrix: venv image ## ansible-core 2.20 and 2.21: lint, unit, plan, molecule default, sanity
	nice -n 10 $(PY) tools/version_matrix.py

# Release notes: one YAML fragment per change in changelogs/fragments/;
# `make changelog` folds them into the release galaxy.yml names
# (changelogs/changelog.yaml) and regenerates CHANGELOG.md; fragments go.
.PHONY: changelog
changelog: venv ## CHANGELOG.md from changelogs/ (antsibull-changelog)
	antsibull-changelog lint
	antsibull-changelog release

.PHONY: build
build: venv ## the collection artifact (ansible-galaxy collection build)
	ansible-galaxy collection build --force --output-path .cache/dist .

.PHONY: clean
clean: ## remove caches (keeps the venv and the image)
	rm -rf .cache/dist .cache/facts .cache/galaxy .pytest_cache .ruff_cache
