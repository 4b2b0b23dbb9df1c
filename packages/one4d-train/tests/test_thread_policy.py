"""Every console script of the workspace and `import one4d_model` set the yielding OpenMP policy before torch
loads (one4d_geometry.threads), and leave the user's own settings alone."""

import json
import os
import subprocess
import sys
from importlib.metadata import entry_points

import pytest

ENTRY_MODULES = sorted(
    {ep.value.split(":")[0] for ep in entry_points(group="console_scripts") if ep.value.startswith("one4d_")}
)

# Records the wait policy in the environment at the moment torch is first imported (that is when its OpenMP
# runtime reads it), imports the module under test, then torch if the module did not, and prints the result.
PROBE = """
import importlib, importlib.abc, json, os, sys
seen = {}
class Spy(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "torch" and "torch" not in seen:
            seen["torch"] = os.environ.get("OMP_WAIT_POLICY")
        return None
sys.meta_path.insert(0, Spy())
importlib.import_module(sys.argv[1])
import torch
print(json.dumps({"at_torch_import": seen["torch"], "threads": torch.get_num_threads()}))
"""


def _probe(module: str, **env: str) -> dict:
    environment = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
    result = subprocess.run(
        [sys.executable, "-c", PROBE, module],
        env={**environment, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_every_console_script_is_found():
    assert {"one4d_train.cli", "one4d_model.cli.generate", "one4d_eval.cli", "one4d_geometry.cli"} <= set(
        ENTRY_MODULES
    )
    assert len(ENTRY_MODULES) >= 10


@pytest.mark.parametrize("package", sorted({module.split(".")[0] for module in ENTRY_MODULES}))
def test_passive_policy_is_set_before_torch_loads(package):
    """Python runs a package's __init__ before any of its modules, so checking each package that holds a
    console script (or is imported as a library) covers them all."""
    assert _probe(package)["at_torch_import"] == "PASSIVE"


def test_a_console_script_module_gets_the_policy():
    assert _probe("one4d_train.pretrain.cli")["at_torch_import"] == "PASSIVE"


def test_users_own_settings_win():
    seen = _probe("one4d_model.cli.generate", OMP_WAIT_POLICY="ACTIVE", OMP_NUM_THREADS="1")
    assert seen == {"at_torch_import": "ACTIVE", "threads": 1}
