"""Plain data shared by every stage: manifests, object identity, labels, change sets, errors.

``manifests`` (object identity, ``ObjectRef``), ``labels``, ``changesets`` (``ChangeSet``),
``errors`` (the exception tree), ``runs`` (run ids, states, phases), ``quantities`` and
``durations`` (the one parser of each), ``documents`` (parsed YAML to plain data, YAML
text), ``secrets`` (credentials recognised by value).

Nothing here performs I/O; every other package may import from here, and this package
imports from no other package of the project.
"""
