"""Thin copies against a real kube-apiserver: its managedFields, resourceVersions and
server-side apply answers are the reference, not the sandbox's."""

from __future__ import annotations

import pytest

from tests.apply.test_thin_copies import *  # noqa: F403

pytestmark = pytest.mark.cluster
