"""The collection's ``plugins/module_utils`` (``memory.py``, ``catalog.py``, ``ollama.py``).

A built wheel ships these files next to this one (hatchling ``force-include``).
Run from a checkout of the collection, they are read in place, so the router
and the Ansible plan always share one memory model and one catalog.
"""

from pathlib import Path

_here = Path(__file__).resolve().parent
_checkout = _here.parents[4] / "plugins" / "module_utils"
if not (_here / "memory.py").exists() and (_checkout / "memory.py").exists():
    __path__.append(str(_checkout))
