"""molecule/cluster deploys inventory/sample itself: its hosts.yml and
group_vars/all.yml are linked into the scenario's inventory, the test hosts
carry the sample's host names, and the overlay beside the scenario changes
only what a test host cannot be, each key for a reason listed here. A key
added to the overlay without a reason fails this test."""

from __future__ import annotations

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1].parent
SCENARIO = REPO / "molecule" / "cluster"
OVERLAY = SCENARIO / "inventory"
SAMPLE = REPO / "inventory" / "sample"

# What a user fills in when copying the sample (addresses, downloads) and
# what a podman test host cannot be.
REASONS = {
    "herd_cluster_address": "the scenario's podman network, not the documentation addresses",
    "herd_cluster_cidr": "the scenario's podman network",
    "herd_rpc_address": "the workers have no separate tensor network here",
    "herd_rpc_cidr": "the workers have no separate tensor network here",
    "herd_podman_network": "the harness's own variable (which podman network)",
    "ansible_user": "podman enters a test host as root; there is no admin account",
    "ansible_become": "root needs no sudo (the image has none)",
    "herd_gpus": "a test host has no GPU; declared GPUs stand where nvidia-smi is absent",
    "herd_tier": "the spare is not in the sample",
    "ollama_environment": "the spare's slow stand-in generations (requests in flight while it drains)",
    "herd_models": "no GPU and a few GB per test host: the demo's tiny models, one per engine of the sample",
    "herd_model_catalog": "the shapes of the tiny llama.cpp and dllama models",
    "__cluster_artifacts": "the downloads converge.yml makes (no internet in CI)",
    "demo_mirror": "downloads from the mirror on edge",
    "ollama_version": "the Ollama archive converge.yml makes",
    "ollama_archive_src": "the Ollama archive converge.yml makes",
    "ollama_archive_checksum": "the Ollama archive converge.yml makes",
    "llama_cpp_source_archive": "the pinned llama.cpp source, made offline",
    "llama_cpp_source_archive_sha256": "the pinned llama.cpp source, made offline",
    "llama_cpp_artifact_dir": "the controller's copy of the built binaries",
    "llama_cpp_ccache_dir": "the controller's ccache, warmed by the llama_cpp scenario",
    "llama_cpp_models": "the tiny GGUF's download",
    "dllama_source_archive": "the dllama source, made offline",
    "dllama_patches": "the dllama source, made offline",
    "dllama_artifact_dir": "the controller's copy of the built binaries",
    "dllama_model_url": "the sample's placeholder, filled in",
    "dllama_model_sha256": "the sample's placeholder, filled in",
    "dllama_tokenizer_url": "the sample's placeholder, filled in",
    "dllama_tokenizer_sha256": "the sample's placeholder, filled in",
    "dllama_model_kv_heads": "the tiny dllama model's shape",
    "dllama_weights_float_type": "the tiny dllama model's shape",
    "gateway_master_key": "the gateway the scenario turns on: a test secret (a user's comes from Vault)",
    "gateway_redis_password": "the gateway the scenario turns on: a test secret (a user's comes from Vault)",
    "gateway_wheelhouse": "no package index on the test hosts: LiteLLM's wheels from the controller",
    "gateway_wheelhouse_dir": "no package index on the test hosts: LiteLLM's wheels from the controller",
}

# Groups molecule's platforms add beyond the sample's: the gateway, opt-in
# and commented out in the sample (it needs Vault secrets), turned on where
# the sample's comment puts it.
TURNED_ON = {"edge": {"gateway"}}


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text()) or {}


def _sample_hosts() -> dict[str, set[str]]:
    """host -> the sample groups it is in."""
    groups: dict[str, set[str]] = {}

    def walk(name: str, node: dict) -> None:
        for host in (node or {}).get("hosts") or {}:
            groups.setdefault(host, set()).add(name)
        for child, sub in ((node or {}).get("children") or {}).items():
            walk(child, sub)

    walk("all", _load(SAMPLE / "hosts.yml")["all"])
    return groups


def _scenario() -> dict:
    return _load(SCENARIO / "molecule.yml")


def test_the_scenario_links_the_sample_itself():
    links = _scenario()["provisioner"]["inventory"]["links"]
    assert (SCENARIO / links["hosts"]).resolve() == SAMPLE / "hosts.yml"
    sample_all = OVERLAY / "group_vars" / "all" / "10-sample.yml"
    assert sample_all.is_symlink() and sample_all.resolve() == SAMPLE / "group_vars" / "all.yml"
    assert (SCENARIO / links["group_vars"]).resolve() == OVERLAY / "group_vars"
    assert (SCENARIO / links["host_vars"]).resolve() == OVERLAY / "host_vars"
    # Only the sample's all.yml and the overlay: no group variable of its own.
    assert sorted(p.name for p in (OVERLAY / "group_vars").iterdir()) == ["all"]
    assert sorted(p.name for p in (OVERLAY / "group_vars" / "all").iterdir()) == ["10-sample.yml", "20-test-hosts.yml"]


def test_the_test_hosts_are_the_sample_hosts_and_a_spare():
    platforms = {p["name"]: set(p.get("groups", [])) for p in _scenario()["platforms"]}
    sample = _sample_hosts()
    # Group membership comes from the sample alone; molecule's groups only
    # name the test hosts and the spare added by verify_add_remove.yml.
    tested = {h: g - TURNED_ON.get(h, set()) for h, g in platforms.items()}
    assert {h for h, g in tested.items() if g == {"test_hosts"}} == set(sample)
    assert {h for h, g in tested.items() if g != {"test_hosts"}} == {"spare-box"}
    assert all(TURNED_ON[h] <= platforms[h] for h in TURNED_ON)
    # Where the sample's commented-out gateway group puts it.
    assert "# gateway:\n    #   hosts:\n    #     edge:" in (SAMPLE / "hosts.yml").read_text()
    assert platforms["spare-box"] == {"spare"}


def test_every_overlaid_key_has_a_reason():
    files = [OVERLAY / "group_vars" / "all" / "20-test-hosts.yml", *sorted((OVERLAY / "host_vars").glob("*.yml"))]
    unexplained = {f"{f.name}: {k}" for f in files for k in _load(f) if k not in REASONS}
    assert unexplained == set()
    # A reason nobody uses is a stale one.
    used = {k for f in files for k in _load(f)}
    assert set(REASONS) - used == set()


def test_the_overlay_covers_every_sample_host_and_no_stranger():
    names = {p.stem for p in (OVERLAY / "host_vars").glob("*.yml")}
    assert names == set(_sample_hosts()) | {"spare-box"}


def test_the_overlay_keeps_the_sample_settings():
    """The sample's cluster-wide choices (firewall, binding, stickiness,
    margins) reach the scenario unchanged: the overlay does not set them."""
    sample = _load(SAMPLE / "group_vars" / "all.yml")
    overlay = _load(OVERLAY / "group_vars" / "all" / "20-test-hosts.yml")
    kept = {"herd_firewall", "herd_allow_bind_all", "herd_plan_sticky", "herd_vram_safety_margin"}
    assert kept <= set(sample) and not kept & set(overlay)
