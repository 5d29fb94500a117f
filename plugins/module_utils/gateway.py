# Copyright: llama-herd developers
# Apache License 2.0
"""The gateway's LiteLLM configuration from the plan (issue 23).

One pure function of the plan, :func:`litellm_config`, gives the proxy's
``config.yaml`` as a dict: every model the plan serves under its name, its
``alias`` as a model-group alias, and one deployment for every backend that
serves it, read from the plan's ``endpoints`` (plan.py is the one place that
knows addresses and ports). It never contacts a host.

Routing order (LiteLLM's ``order``: the lowest order that has a healthy
deployment takes the request, the next one only when all of those fail or
cool down):

1. on a GPU: a pool whose every backend holds the model on a GPU, an Ollama
   node holding it on a GPU, a llama-server with GPU layers;
2. from RAM: the rest, and the distributed-llama API (CPUs);
3. and 4. the Ollama nodes behind a pool, directly (GPU, then RAM), used only
   when the pool's load balancer does not answer;
``CLOUD_ORDER``: a cloud model (``herd_cloud_models``) under a local model's
name, used only when nothing local answers.

Secrets never stand in the file: the master key, the database URL, the
Redis password and each cloud API key are ``os.environ/NAME`` references
that LiteLLM resolves from the unit's environment.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

MASTER_KEY_ENV = "LITELLM_MASTER_KEY"
DATABASE_URL_ENV = "DATABASE_URL"
REDIS_PASSWORD_ENV = "REDIS_PASSWORD"
CLOUD_ORDER = 9
# llama-server and dllama-api take no key; the OpenAI client needs a string.
NO_KEY = "none"
# Where each engine's API is spoken: LiteLLM provider prefix per model kind.
_OLLAMA_CHAT = "ollama_chat"  # POST /api/chat: the model's own chat template
_OLLAMA_EMBED = "ollama"  # POST /api/embed: LiteLLM embeds only through this one
_CLOUD_PROVIDER_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_ENV_RE = re.compile(r"^[A-Z][A-Z0-9_]*$")


def _order(on_gpu: bool, behind_pool: bool) -> int:
    return (2 if behind_pool else 0) + (1 if on_gpu else 2)


# The background health check asks each chat backend for this many tokens
# (LiteLLM's default is 16: seconds of CPU on a small node, every interval).
HEALTH_CHECK_MAX_TOKENS = 1


def _deployment(name: str, model: str, api_base: str, order: int, kind: str, dep_id: str, **extra: Any) -> dict[str, Any]:
    info: dict[str, Any] = {"id": dep_id, "health_check_max_tokens": HEALTH_CHECK_MAX_TOKENS}
    if kind == "embedding":
        info["mode"] = "embedding"
    return {
        "model_name": name,
        "litellm_params": {"model": model, "api_base": api_base, "order": order, **extra},
        "model_info": info,
    }


def model_list(plan: Mapping[str, Any]) -> list[dict[str, Any]]:
    """LiteLLM's ``model_list``: one deployment per (model, backend) of the
    plan's endpoints, grouped by model in the plan's order, lowest ``order``
    first within a model."""
    eps = [e for e in plan.get("endpoints") or [] if isinstance(e, Mapping) and e.get("engine")]
    pooled = {m["name"] for e in eps if e["engine"] == "ollama_pool" for m in e.get("models") or []}
    out: list[dict[str, Any]] = []
    for e in eps:
        engine, url = e["engine"], str(e["url"])
        for m in e.get("models") or []:
            name, kind = str(m["name"]), str(m.get("kind") or "chat")
            behind = engine == "ollama" and name in pooled
            order = _order(bool(m.get("on_gpu")), behind)
            dep_id = f"{engine}:{url.removeprefix('http://')}:{name}"
            if engine in ("ollama", "ollama_pool"):
                prefix = _OLLAMA_EMBED if kind == "embedding" else _OLLAMA_CHAT
                out.append(_deployment(name, f"{prefix}/{name}", url, order, kind, dep_id))
            elif engine in ("llama_server", "dllama"):
                out.append(_deployment(name, f"openai/{name}", f"{url}/v1", order, kind, dep_id, api_key=NO_KEY))
    first = {}
    for i, d in enumerate(out):
        first.setdefault(d["model_name"], i)
    out.sort(key=lambda d: (first[d["model_name"]], d["litellm_params"]["order"]))
    return out


def model_group_alias(plan: Mapping[str, Any]) -> dict[str, str]:
    """``{alias: model}`` for every alias of a served model (herd_models
    ``alias``, e.g. seed 002's ``XL-LOC-FRE-qwen2.5-coder-32b``)."""
    out: dict[str, str] = {}
    for e in plan.get("endpoints") or []:
        for m in (e.get("models") if isinstance(e, Mapping) else None) or []:
            for a in m.get("aliases") or []:
                out.setdefault(str(a), str(m["name"]))
    return out


def cloud_problems(cloud_models: Any, served: Iterable[str]) -> list[str]:
    """What is wrong with ``herd_cloud_models``, each naming the entry and the fix."""
    if cloud_models in (None, []):
        return []
    if not isinstance(cloud_models, list):
        return ["herd_cloud_models is not a list. Fix: a list of {name, provider, model, api_key_env}."]
    served = set(served)
    out = []
    for i, c in enumerate(cloud_models):
        where = f"herd_cloud_models[{i}]"
        if not isinstance(c, Mapping):
            out.append(f"{where} is not a mapping. Fix: {{name, provider, model, api_key_env}}.")
            continue
        where = f"herd_cloud_models[{c.get('name', i)}]"
        for k in ("name", "provider", "model", "api_key_env"):
            if not isinstance(c.get(k), str) or not c.get(k):
                out.append(f"{where}: {k} is missing. Fix: set {k} (a string).")
        if isinstance(c.get("provider"), str) and not _CLOUD_PROVIDER_RE.match(c["provider"]):
            out.append(f"{where}: provider {c['provider']!r} is not a LiteLLM provider name. Fix: e.g. openai, anthropic.")
        if isinstance(c.get("api_key_env"), str) and not _ENV_RE.match(c["api_key_env"]):
            out.append(
                f"{where}: api_key_env {c['api_key_env']!r} is not an environment variable name. "
                "Fix: upper case, e.g. HERD_CLOUD_OPENAI_KEY (the role sets it from Vault)."
            )
        if "api_key" in c:
            out.append(
                f"{where}: api_key is given in clear. Fix: remove it and set api_key_env; the role reads the key from Vault."
            )
        for f in c.get("fallback_for") or []:
            if f not in served:
                out.append(
                    f"{where}: fallback_for names {f}, which the plan does not serve. Fix: use one of {', '.join(sorted(served))}."
                )
    return out


def cloud_deployments(cloud_models: Any) -> list[dict[str, Any]]:
    """Deployments for well-formed ``herd_cloud_models`` entries: under their
    own ``name``, and under each local model of ``fallback_for`` at
    ``CLOUD_ORDER`` (after every local backend)."""
    out = []
    for c in cloud_models if isinstance(cloud_models, list) else []:
        # Malformed entries are skipped; the role reports cloud_problems first.
        if not isinstance(c, Mapping) or cloud_problems([c], c.get("fallback_for") or []):
            continue
        params = {"model": f"{c['provider']}/{c['model']}", "api_key": f"os.environ/{c['api_key_env']}"}
        if c.get("api_base"):
            params["api_base"] = str(c["api_base"])
        for name, order in [(c["name"], 1), *((f, CLOUD_ORDER) for f in c.get("fallback_for") or [])]:
            out.append(
                {
                    "model_name": str(name),
                    "litellm_params": {**params, "order": order},
                    # Not probed every interval: each probe is a billed
                    # request. An unprobed deployment still takes traffic and
                    # still cools down when a real request fails.
                    "model_info": {"id": f"cloud:{c['name']}:{name}", "disable_background_health_check": True},
                }
            )
    return out


def group_failover(
    models: Iterable[Mapping[str, Any]], aliases: Mapping[str, str] | None = None
) -> tuple[list[dict[str, Any]], int]:
    """LiteLLM ``fallbacks`` that try each deployment of a model group on its
    own once the group's retries are spent, and the ``max_fallbacks`` that
    lets every one of them be tried (issue 23).

    Why: in LiteLLM 1.108.7 a backend that refuses connections is never
    cooled down (router_utils/cooldown_handlers.py:264-268 skips cooldown for
    every APIConnectionError, and no ``allowed_fails_policy`` field matches
    that exception, :98-109), and a retry does not avoid the deployment that
    just failed (router.py:8369-8384 skips it only after a non-retryable
    status). Each of the 1 + ``num_retries`` attempts is a fresh shuffle, so
    with one of two backends down 1 request in (1/2)**3 = 8 failed with a 500.
    ``enable_weighted_failover`` re-picks without the failed deployment, but
    only for chat: embeddings never stamp ``failed_deployment_id``
    (router.py:6682-6687 against 4241-4250, 7905-7907). A fallback entry of
    the group itself with ``_excluded_deployment_ids`` is the router's own
    way to aim at deployments inside a group (fallback_event_handlers.py:
    174-196, router.py:14241-14248); one entry per deployment, every other
    one excluded, reaches each backend in turn, in ``order``, for every call
    type. Groups with one deployment get none. Fallbacks are looked up by the
    name the request used, so each alias gets its model's entries too."""
    groups: dict[str, list[str]] = {}
    for d in models:
        groups.setdefault(str(d["model_name"]), []).append(str(d["model_info"]["id"]))
    entries = {
        name: [{"model": name, "_excluded_deployment_ids": [o for o in ids if o != i]} for i in ids]
        for name, ids in groups.items()
        if len(ids) > 1
    }
    fallbacks = [{name: e} for name, e in entries.items()]
    fallbacks += [{alias: entries[name]} for alias, name in (aliases or {}).items() if name in entries]
    # Order levels are fallbacks too (router.py:8022-8076): room for both.
    most = max((len(ids) for ids in groups.values()), default=0)
    return fallbacks, max(5, 2 * most)


def litellm_config(plan: Mapping[str, Any], settings: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The whole ``config.yaml``. ``settings``: ``redis`` ({host, port} or
    None), ``database`` (bool), ``cloud_models`` (herd_cloud_models),
    ``num_retries``, ``timeout`` (s), ``allowed_fails``, ``cooldown_time``
    (s), ``health_check_interval`` (s), ``health_check_timeout`` (s),
    ``metrics`` (bool, default true), ``metrics_auth`` (bool, default true:
    /metrics asks for a key).

    Health-check routing: a backend that fails its background health check
    (an error, or no answer within ``health_check_timeout``) leaves the
    routing pool until it passes again, so one that accepts connections and
    never answers stops taking requests after one check instead of costing
    ``timeout`` per attempt for ever (bench/results/gateway-hang-*.md)."""
    s = dict(settings or {})
    models = model_list(plan) + cloud_deployments(s.get("cloud_models"))
    hc_timeout = int(s.get("health_check_timeout", 30))
    for d in models:
        d["model_info"]["health_check_timeout"] = hc_timeout
    router: dict[str, Any] = {
        "routing_strategy": "simple-shuffle",
        "num_retries": int(s.get("num_retries", 2)),
        "timeout": int(s.get("timeout", 600)),
        "allowed_fails": int(s.get("allowed_fails", 1)),
        "cooldown_time": int(s.get("cooldown_time", 30)),
    }
    aliases = model_group_alias(plan)
    fallbacks, max_fallbacks = group_failover(models, aliases)
    if fallbacks:
        router.update(fallbacks=fallbacks, max_fallbacks=max_fallbacks)
    if aliases:
        router["model_group_alias"] = aliases
    redis = s.get("redis")
    if redis:
        router.update(
            redis_host=str(redis["host"]), redis_port=int(redis["port"]), redis_password=f"os.environ/{REDIS_PASSWORD_ENV}"
        )
    general: dict[str, Any] = {
        "master_key": f"os.environ/{MASTER_KEY_ENV}",
        "background_health_checks": True,
        "health_check_interval": int(s.get("health_check_interval", 60)),
        "enable_health_check_routing": True,
    }
    if s.get("database"):
        general["database_url"] = f"os.environ/{DATABASE_URL_ENV}"
    litellm: dict[str, Any] = {"drop_params": True, "num_retries": router["num_retries"]}
    if s.get("metrics", True):
        # /metrics for Prometheus; it asks for the master key (or a virtual
        # key) unless require_auth_for_metrics_endpoint is false.
        litellm["callbacks"] = ["prometheus"]
        if not s.get("metrics_auth", True):
            # For a Prometheus that holds no key (monitoring.scrape_jobs).
            litellm["require_auth_for_metrics_endpoint"] = False
    return {"model_list": models, "router_settings": router, "litellm_settings": litellm, "general_settings": general}
