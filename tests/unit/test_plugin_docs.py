"""Every filter and module of the collection is documented, ansible-doc loads
the docs, and the documented options are the code's parameters.

Filters that share a .py file are documented in plugins/filter/<name>.yml
next to it (ansible-doc reads those); the check below catches a signature
that changed without its doc. ansible-doc runs four times in all (list and
load, for filters and for modules) to keep this fast."""

from __future__ import annotations

import importlib
import inspect
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ansible.module_utils.basic import FILE_COMMON_ARGUMENTS

REPO = Path(__file__).resolve().parents[2]
NS = "llamaherd.cluster"
PKG = "ansible_collections.llamaherd.cluster.plugins"
FILTER_FILES = sorted(p.stem for p in (REPO / "plugins/filter").glob("*.py") if not p.name.startswith("_"))
MODULE_FILES = sorted(p.stem for p in (REPO / "plugins/modules").glob("*.py") if not p.name.startswith("_"))


def _filters() -> dict[str, Any]:
    """{name: callable} from every FilterModule of the collection."""
    out: dict[str, Any] = {}
    for stem in FILTER_FILES:
        for name, fn in importlib.import_module(f"{PKG}.filter.{stem}").FilterModule().filters().items():
            assert name not in out, f"filter {name} is defined twice (plugins/filter/{stem}.py and another file)"
            out[name] = fn
    return out


FILTERS = _filters()


def _ansible_doc(*args: str) -> dict[str, Any]:
    env = dict(os.environ)
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_COLLECTIONS_PATH=str(REPO / "collections"),
        ANSIBLE_NOCOLOR="true",
    )
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-doc"), "--json", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, f"ansible-doc {' '.join(args[:3])} ... failed:\n{proc.stderr[-2000:]}"
    # A doc that does not parse is skipped with a warning on stderr, not an error.
    assert "[WARNING]" not in proc.stderr and "[ERROR]" not in proc.stderr, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def listed() -> dict[str, dict[str, str]]:
    return {t: _ansible_doc("-t", t, "--list", NS) for t in ("filter", "module")}


@pytest.fixture(scope="module")
def docs(listed) -> dict[str, dict[str, Any]]:
    """Docs of the documented ones (test_nothing_is_undocumented reports the rest)."""
    return {
        t: _ansible_doc("-t", t, *sorted(n for n, desc in names.items() if desc != "UNDOCUMENTED")) for t, names in listed.items()
    }


def _short(name: str) -> str:
    return name.removeprefix(f"{NS}.")


# ------------------------------------------------------------ listing
@pytest.mark.parametrize("plugin_type", ["filter", "module"])
def test_nothing_is_undocumented(listed, plugin_type):
    bare = sorted(_short(n) for n, desc in listed[plugin_type].items() if desc == "UNDOCUMENTED")
    assert not bare, (
        f"{plugin_type}s without docs: {bare}. Fix: for a filter in a file of several, add plugins/filter/<name>.yml "
        "(DOCUMENTATION/EXAMPLES/RETURN); otherwise DOCUMENTATION in the .py"
    )


def test_every_filter_and_module_is_listed(listed):
    assert sorted(_short(n) for n in listed["filter"]) == sorted(FILTERS)
    assert sorted(_short(n) for n in listed["module"]) == MODULE_FILES


def test_no_doc_file_without_its_filter():
    orphans = sorted(p.name for p in (REPO / "plugins/filter").glob("*.yml") if p.stem not in FILTERS)
    assert not orphans, f"plugins/filter/{orphans}: no filter of that name (renamed or removed?)"


# ------------------------------------------------------------ loading
@pytest.mark.parametrize("plugin_type", ["filter", "module"])
def test_ansible_doc_loads_every_doc(listed, docs, plugin_type):
    for name, desc in listed[plugin_type].items():
        if desc == "UNDOCUMENTED":
            continue
        assert name in docs[plugin_type], f"ansible-doc -t {plugin_type} {name} loaded no doc"
        entry = docs[plugin_type][name]
        doc = entry["doc"]
        assert doc.get("short_description") and doc.get("description"), f"{name}: no short_description/description"
        assert entry.get("examples", "").strip(), f"{name}: no EXAMPLES"
        assert entry.get("return"), f"{name}: no RETURN"
        for opt, spec in (doc.get("options") or {}).items():
            assert spec.get("description"), f"{name}: option {opt} has no description"
            assert spec.get("type"), f"{name}: option {opt} has no type"
        if plugin_type == "filter":
            assert "_value" in entry["return"], f"{name}: RETURN has no _value"
            assert entry["return"]["_value"].get("type"), f"{name}: RETURN._value has no type"


# ------------------------------------------------------------ filters
def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_filter_doc_matches_signature(docs, name):
    params = list(inspect.signature(FILTERS[name]).parameters.values())
    assert params and all(p.kind is p.POSITIONAL_OR_KEYWORD for p in params), f"{name}: unexpected signature"
    assert f"{NS}.{name}" in docs["filter"], f"{name}: no doc (see test_nothing_is_undocumented)"
    doc = docs["filter"][f"{NS}.{name}"]["doc"]
    options = doc.get("options") or {}
    documented = set(options) - {"_input"}
    actual = {p.name for p in params[1:]}
    assert "_input" in options, f"{name}: options has no _input (the value before the |)"
    assert options["_input"].get("required") is True, f"{name}: _input must be required"
    assert documented == actual, (
        f"{name}: documented options {sorted(documented)} but the filter takes {sorted(actual)}. "
        f"Fix: plugins/filter/{name}.yml (or the DOCUMENTATION of its .py)"
    )
    for p in params[1:]:
        spec = options[p.name]
        required = p.default is inspect.Parameter.empty
        assert bool(spec.get("required")) is required, f"{name}: {p.name} required should be {required}"
        if required:
            assert spec.get("default") is None, f"{name}: {p.name} is required, yet the doc gives a default"
        elif p.default is None:  # None stands for "nothing": the doc may say so as an empty value
            assert spec.get("default") in (None, {}, [], ""), (
                f"{name}: {p.name} defaults to None in the code, doc says {spec['default']!r}"
            )
        else:
            assert spec.get("default") == _plain(p.default), (
                f"{name}: {p.name} defaults to {p.default!r} in the code, doc says {spec.get('default')!r}"
            )
    positional = doc.get("positional")
    if positional:
        names = [n.strip() for n in positional.split(",")] if isinstance(positional, str) else list(positional)
        assert names == [p.name for p in params[1 : 1 + len(names)]], (
            f"{name}: positional {names} is not the order of the filter's arguments {[p.name for p in params[1:]]}"
        )


# ------------------------------------------------------------ modules
class _Recorded(Exception):
    pass


def _module_spec(stem: str) -> dict[str, Any]:
    """The argument_spec main() builds (with the file arguments AnsibleModule
    adds), or the action plugin's _VALID_ARGS
    for a module that only documents an action plugin."""
    mod = importlib.import_module(f"{PKG}.modules.{stem}")
    if hasattr(mod, "main"):
        seen: dict[str, Any] = {}

        def record(*_a: Any, argument_spec: dict[str, Any] | None = None, **kw: Any) -> None:
            seen.update(argument_spec or {})
            if kw.get("add_file_common_args"):  # documented by the ansible.builtin.files fragment
                seen.update(FILE_COMMON_ARGUMENTS)
            raise _Recorded

        real = mod.AnsibleModule
        mod.AnsibleModule = record
        try:
            with pytest.raises(_Recorded):
                mod.main()
        finally:
            mod.AnsibleModule = real
        return seen
    action = importlib.import_module(f"{PKG}.action.{stem}").ActionModule
    return dict.fromkeys(action._VALID_ARGS)


def _compare(where: str, spec: dict[str, Any], options: dict[str, Any]) -> list[str]:
    diffs = []
    if set(spec) != set(options):
        return [f"{where}: code has {sorted(spec)}, doc has {sorted(options)}"]
    for key, s in spec.items():
        if s is None:  # an action plugin's argument: only the name is known
            continue
        o = options[key]
        for attr, absent in (("required", False), ("type", "str"), ("default", None), ("choices", None), ("elements", None)):
            if (s.get(attr, absent) or absent) != (o.get(attr, absent) or absent):
                diffs.append(f"{where}.{key}.{attr}: code {s.get(attr)!r}, doc {o.get(attr)!r}")
        if s.get("options") or o.get("suboptions"):
            diffs += _compare(f"{where}.{key}", s.get("options") or {}, o.get("suboptions") or {})
    return diffs


@pytest.mark.parametrize("stem", MODULE_FILES)
def test_module_doc_matches_argument_spec(docs, stem):
    options = docs["module"][f"{NS}.{stem}"]["doc"].get("options") or {}
    diffs = _compare(stem, _module_spec(stem), options)
    assert not diffs, "\n".join(diffs)
