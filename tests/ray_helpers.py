"""A local Ray instance for a test module: 2 CPUs, no dashboard, its own (``address="local"``:
never another Ray instance running on the machine), its workers running this checkout's code."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from conftest import ROOT


@contextlib.contextmanager
def local_ray(**env: str) -> Iterator[Any]:
    """Ray, started with ``env`` in its workers' environment too; at the end it is shut down and
    its lingering agents and session folder are removed."""
    import ray

    from mosaicit.run.ray_reaper import end_session

    env = {"PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]), **env}
    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": env},
    )
    session = ray._private.worker._global_node.get_session_dir_path()
    try:
        yield ray
    finally:
        ray.shutdown()
        end_session(session)
