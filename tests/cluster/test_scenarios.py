"""The sandbox's scenarios (``tests/sandbox``), unchanged, against a real kube-apiserver.

Each test below is the sandbox suite's own test function; its ``sandbox`` and
``kubectl`` fixtures reach this suite's real API server (see the conftest), so every
assertion the sandbox suite makes is checked against kube-apiserver too.
"""

from __future__ import annotations

import pytest

from tests.sandbox.test_api import *  # noqa: F403
from tests.sandbox.test_apply import *  # noqa: F403
from tests.sandbox.test_controllers import *  # noqa: F403
from tests.sandbox.test_kubectl import *  # noqa: F403

pytestmark = pytest.mark.cluster
