"""The pluggy markers of the ``kapic`` project: :data:`hookspec` and :data:`hookimpl`.

They sit at the bottom of the layers so that built-in plugins anywhere in kapic (platforms,
firmware, the APIC drivers) can mark their hooks without importing the hook specifications,
which name types from every layer.
"""

from __future__ import annotations

from typing import Final

import pluggy

__all__ = ["PROJECT", "hookimpl", "hookspec"]

#: the pluggy project name, also the entry-point group plugins are found in
PROJECT: Final = "kapic"
#: marks a hook specification in :mod:`kapic.hookspecs`
hookspec: Final = pluggy.HookspecMarker(PROJECT)
#: marks a plugin's hook implementation: ``@hookimpl def kapic_platforms(): ...``
hookimpl: Final = pluggy.HookimplMarker(PROJECT)
