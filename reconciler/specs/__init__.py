"""The watched repository's specs: Pipeline and Environment (apiVersion reconciler.ml/v1alpha1).

The path of a document through this package:

- ``loading``: read YAML safely, with line and column positions (``Locator``);
- ``schema``: the JSON Schema, the one definition of every field's shape, printed by
  ``reconciler schema``; assembled from ``schema_pipeline`` and ``schema_environment`` (each
  kind's part), built with ``schema_fields`` (shared shapes) and ``patterns``;
- ``checking``: validate against the schema with ``jsonschema``, errors as messages;
- ``rules``: the checks that join several fields, and sets of pipelines;
- ``validation``: the entry points, ``parse_pipeline``/``parse_environment``, which give
  ``models`` (the typed, validated form) or every error at once.

``branches`` names branches and the namespace of each branch; ``provenance_branches`` says
which branch an environment's records go to; ``units`` reads a spec's durations and
quantities; ``secret_values`` refuses literal values that look like credentials;
``servingruntimes`` holds KServe's built-in runtimes and its rule for picking one.
"""
