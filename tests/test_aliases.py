"""Import paths of 0.1.0 still work for one release, each with a warning naming its new home."""

from __future__ import annotations

import json
import subprocess
import sys

from ndx_encoding_subspace._aliases import MOVED

CHECK = r"""
import importlib, json, warnings
from ndx_encoding_subspace._aliases import MOVED
out = {}
for old, new in MOVED.items():
    homes = (new,) if isinstance(new, str) else new
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = importlib.import_module("ndx_encoding_subspace." + old)
    messages = [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)
                and ("ndx_encoding_subspace." + old) in str(w.message)]
    same = len(homes) == 1 and module is importlib.import_module("ndx_encoding_subspace." + homes[0])
    names = sorted(getattr(module, "__all__", []))
    out[old] = {"messages": messages, "same": same, "names": names}
print(json.dumps(out))
"""


def test_every_old_path_imports_with_a_deprecation_warning_naming_the_new_one() -> None:
    done = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, check=True)
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(found) == set(MOVED)
    for old, new in MOVED.items():
        homes = (new,) if isinstance(new, str) else new
        (message,) = found[old]["messages"]
        assert all(f"ndx_encoding_subspace.{home}" in message for home in homes), message
        if len(homes) == 1:
            assert found[old]["same"], old
        else:
            assert found[old]["names"], old


def test_the_old_training_api_still_answers() -> None:
    code = ("import warnings; warnings.simplefilter('ignore')\n"
            "from ndx_encoding_subspace.training import TrainingParams, fit_model\n"
            "from ndx_encoding_subspace.simulate import simulate_site\n"
            "from ndx_encoding_subspace.subspace import fit_subspaces, TuningSubspace\n"
            "from ndx_encoding_subspace.dstrf import dstrf\n"
            "print(TrainingParams().max_epochs > 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "True"
