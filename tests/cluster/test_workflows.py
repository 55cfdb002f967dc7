"""The workflow stories of ``tests/workflows``, unchanged, against a real kube-apiserver.

The stories' ``sandbox`` fixture is this suite's real API server (see the conftest),
with the simulated controllers running against it as a separate process.
"""

from __future__ import annotations

import pytest

from tests.workflows.test_review import *  # noqa: F403
from tests.workflows.test_runs import *  # noqa: F403

pytestmark = pytest.mark.cluster
