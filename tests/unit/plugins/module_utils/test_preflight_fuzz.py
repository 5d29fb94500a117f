"""Property-based preflight: any inventory, however wrong its types and group
shapes, ends in success or in problems a person can act on, never in an
exception (issue 19). Fixed seed and a budget in make test; HERD_FUZZ_EXAMPLES
and HERD_FUZZ_SEED set a longer run (bench/results/preflight-fuzz-*.md)."""

from __future__ import annotations

import os

from ansible_collections.llamaherd.cluster.plugins.module_utils.inventory import HERD_VARS, SERVICE_GROUPS
from ansible_collections.llamaherd.cluster.plugins.module_utils.plan import preflight_problems
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("HERD_FUZZ_EXAMPLES", "150"))

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", "cuda", "192.0.2.1", "localhost", "q4_k_m", "nvidia", "8.6", "workers", "off", "::1", "0.0.0.0"]),
    st.text(max_size=12),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(["name", "vendor", "vram_mib", "x"]), inner, max_size=3)
    ),
    max_leaves=6,
)
gpu = st.one_of(
    st.fixed_dictionaries(
        {
            "vendor": st.just("nvidia"),
            "vram_mib": st.integers(1, 100000),
            "compute_capability": st.sampled_from(["6.1", "7.0", "8.6", "12.0"]),
        }
    ),
    st.fixed_dictionaries(
        {"vendor": st.just("amd"), "vram_mib": st.integers(1, 100000), "gfx_target": st.sampled_from(["gfx1100", "gfx1151"])}
    ),
)
model = st.fixed_dictionaries(
    {"name": st.sampled_from(["qwen2.5:3b", "llama3.1:8b", "nomic-embed-text", "nope:1b", "qwen2.5:72b"])},
    optional={
        "engine": st.sampled_from(["ollama", "llama_cpp", "dllama", "vllm"]),
        "replicas": st.one_of(st.integers(-1, 6), st.text(max_size=3)),
        "context": st.one_of(st.integers(-5, 300000), st.text(max_size=3)),
        "priority": st.integers(-3, 5),
        "gpu": st.sampled_from(["required", "preferred", "never", "sometimes"]),
        "quant": st.sampled_from(["q4_k_m", "Q8_0", "q40", "zz"]),
        "labels": st.one_of(st.lists(st.text(max_size=4), max_size=2), st.text(max_size=4)),
        "pool_port": st.integers(-1, 70000),
        "hosts": st.lists(st.sampled_from(["h0", "h1", "h7"]), max_size=2),
    },
)
clean_model = st.fixed_dictionaries(
    {"name": st.sampled_from(["qwen2.5:3b", "llama3.1:8b", "nomic-embed-text", "qwen2.5:72b", "qwen2.5:0.5b"])},
    optional={
        "replicas": st.integers(1, 4),
        "context": st.sampled_from([512, 2048, 8192, 32768]),
        "priority": st.integers(0, 3),
        "gpu": st.sampled_from(["required", "preferred", "never"]),
        "engine": st.sampled_from(["ollama", "llama_cpp"]),
    },
)
wild_vars = st.one_of(st.just({}), st.dictionaries(st.sampled_from(sorted(HERD_VARS)), values, max_size=3))


@st.composite
def host_vars(draw, i):
    hv = {"herd_cluster_address": f"192.0.2.{i + 1}"}
    hv.update(
        draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "herd_ram_mib": st.integers(0, 1 << 20),
                    "herd_gpus": st.lists(gpu, max_size=2),
                    "herd_firewall": st.sampled_from(["workers", "cluster", "off", True, False]),
                },
            )
        )
    )
    # Now and then a wrong type or value for any documented variable.
    if draw(st.integers(0, 3)) == 3:
        hv.update(draw(wild_vars))
    return hv


@st.composite
def inventories(draw):
    n = draw(st.integers(1, 8))
    hosts = [f"h{i}" for i in range(n)]
    hostvars = {h: draw(host_vars(i)) for i, h in enumerate(hosts)}
    models = draw(
        st.one_of(st.lists(clean_model, max_size=4, unique_by=lambda m: m["name"]), st.lists(model, max_size=3), values)
    )
    shared = {"herd_models": models, "herd_cluster_cidr": "192.0.2.0/24"}
    for hv in hostvars.values():
        hv.update(shared)
    groups = {"all": hosts, **{g: [] for g in SERVICE_GROUPS}}
    if draw(st.integers(0, 3)) == 3:  # any shape at all
        for g in SERVICE_GROUPS:
            groups[g] = draw(st.lists(st.sampled_from(hosts), unique=True, max_size=n))
    else:  # a shape a user means: one job per host, a dllama root with 1, 2 or 4 workers
        jobs = ["ollama_nodes", "llama_cpp_workers", "loadbalancers", "gpu_router", "monitoring", None]
        for h in hosts:
            job = draw(st.sampled_from(jobs))
            if job:
                groups[job].append(h)
        if groups["llama_cpp_workers"] and draw(st.integers(0, 4)) < 4:
            groups["llama_cpp_head"] = [hosts[0]]
        if n >= 3 and draw(st.booleans()):
            groups["dllama_root"], groups["dllama_workers"] = [hosts[-1]], hosts[-1 - draw(st.sampled_from([1, 2])) : -1]
    if draw(st.integers(0, 5)) == 5:
        groups[draw(st.sampled_from(["loadbalancer", "spare", "gpu-router"]))] = hosts[:1]
    return hostvars, groups


def _actionable(problem: str) -> bool:
    return isinstance(problem, str) and "Fix" in problem and "Traceback" not in problem and "_Ansible" not in problem


@seed(int(os.environ.get("HERD_FUZZ_SEED", "20261203")))
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inventories())
def test_preflight_never_raises_and_every_problem_has_a_fix(inv):
    hostvars, groups = inv
    errors, warnings = preflight_problems(hostvars, groups)  # the herd_preflight action's path
    assert all(_actionable(p) for p in errors + warnings), errors + warnings
