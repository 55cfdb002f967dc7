"""Render: from a repository tree at one commit to the objects an environment should have.

``kustomize`` builds an overlay with real Kustomize; ``datasets`` resolves DVC pointers with
DVC's own library; ``overlays`` turns the overlay output into an Environment, Pipelines and
plain objects; ``runids`` computes run ids; ``runspecs`` holds a pipeline resolved for one environment (``RunSpec``); ``podspecs``, ``steps`` and ``serving`` build the
generated objects; ``environments`` joins them. Everything but ``kustomize`` and
``datasets`` is a pure function of data.
"""
