"""The service groups, listed once: the filter and preflight's derived groups."""

from __future__ import annotations

from ansible_collections.llamaherd.cluster.plugins.filter.groups import herd_job_groups
from ansible_collections.llamaherd.cluster.plugins.module_utils.inventory import SERVICE_GROUPS, derived_groups


def test_job_groups_of_a_host():
    assert herd_job_groups(["v100s", "ollama_nodes", "llama_cpp_workers", "herd_os_linux"]) == [
        "llama_cpp_workers",
        "ollama_nodes",
    ]
    assert herd_job_groups([]) == []


def test_derived_groups_cover_the_whole_inventory():
    groups = {
        "all": ["a", "b", "c", "m", "x"],
        "ollama_nodes": ["a"],
        "llama_cpp_workers": ["b"],
        "loadbalancers": ["c"],
        "monitoring": ["m"],
        "pets": ["x"],
    }
    made = derived_groups(groups)
    assert made == {
        "herd_nodes": ["a", "b", "c"],
        "herd_model_nodes": ["a", "b"],
        "herd_monitored": ["a", "b", "c", "m"],
    }
    assert set(made["herd_monitored"]) == {h for g in SERVICE_GROUPS for h in groups.get(g, [])}


def test_no_playbook_or_role_lists_the_service_groups_again():
    """Hosts are selected with herd_nodes / herd_model_nodes / herd_monitored
    (made by preflight), not by a hand-written list of groups."""
    import re
    from pathlib import Path

    repo = Path(__file__).resolve().parents[4]
    names = "|".join(SERVICE_GROUPS)
    listing = re.compile(rf"(({names})\W+){{3,}}")
    found = []
    for top in ("playbooks", "roles", "molecule", "site.yml"):
        for path in [repo / top] if top.endswith(".yml") else (repo / top).rglob("*.yml"):
            for n, line in enumerate(path.read_text().splitlines(), 1):
                # Exempt: a test host's membership, and the --limit a user
                # types (the listing right after `--limit NODE,`).
                m = listing.search(line)
                if m and not line.strip().startswith("groups: [") and not re.search(r"--limit [\w-]+,$", line[: m.start()]):
                    found.append(f"{path.relative_to(repo)}:{n}: {line.strip()}")
    assert not found, "\n".join(found)
