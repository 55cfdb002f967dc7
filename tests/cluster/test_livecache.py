"""The daemon's live cache against a real kube-apiserver: its watches, resourceVersions,
DELETED events and refusals are the reference, not the sandbox's."""

from __future__ import annotations

import pytest

from tests.cluster_layer.test_livecache import *  # noqa: F403

pytestmark = pytest.mark.cluster
