# Copyright: llama-herd developers
# Apache License 2.0
"""Jinja filters over plugins/module_utils/gateway.py (no logic here)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.llamaherd.cluster.plugins.module_utils import gateway as gw


def gateway_litellm_config(plan, settings=None):
    """LiteLLM's config.yaml (a dict) for the plan's endpoints."""
    try:
        return gw.litellm_config(plan or {}, settings or {})
    except (KeyError, TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"gateway_litellm_config: {exc}") from exc


def gateway_cloud_problems(cloud_models, plan):
    """What is wrong with herd_cloud_models, against the models the plan serves."""
    served = {d["model_name"] for d in gw.model_list(plan or {})}
    return gw.cloud_problems(cloud_models, served)


class FilterModule:
    def filters(self):
        return {"gateway_litellm_config": gateway_litellm_config, "gateway_cloud_problems": gateway_cloud_problems}
