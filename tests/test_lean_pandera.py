"""pandera loads at the first use of its names, without numpy, pandas or hypothesis, and only the importing
thread is kept from those: a reader thread may import numpy meanwhile."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PROBE = """
import json, sys, threading
import opimpact.validate, opimpact.screen
before = "pandera" in sys.modules
from opimpact import lean_pandera as pa
from opimpact.lean_pandera import _HideFromPandera
blocker = _HideFromPandera()
sys.meta_path.insert(0, blocker)
try:
    other = []
    thread = threading.Thread(target=lambda: other.append(__import__("numpy").__name__))
    thread.start(); thread.join()
    try:
        __import__("hypothesis")
        own = "imported"
    except ModuleNotFoundError:
        own = "hidden"
finally:
    sys.meta_path.remove(blocker)
check = pa.Check
print(json.dumps({"before": before, "after": "pandera" in sys.modules, "check": check.__name__,
                  "other_thread": other, "own_thread": own}))
"""


def test_pandera_loads_lazily_and_hides_only_from_its_own_thread():
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    result = json.loads(done.stdout)
    assert result == {"before": False, "after": True, "check": "Check", "other_thread": ["numpy"],
                      "own_thread": "hidden"}


def test_an_unknown_name_is_an_attribute_error():
    from opimpact import lean_pandera

    with pytest.raises(AttributeError, match="NotThere"):
        lean_pandera.NotThere  # noqa: B018
