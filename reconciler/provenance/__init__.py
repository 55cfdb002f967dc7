"""Provenance: one YAML record per finished run, committed back to Git (design.md, "Provenance").

Modules, in data-path order::

    records     RunRecord (and its parts), record_path: the record and its stable YAML
    scrubbing   secrets out of every record (URL credentials, credential-like env values)
    outbox      records on disk (atomic, durable) until they are in Git
    plumbing    git without a checkout: temporary index, commit-tree, CAS update-ref, push
    store       ProvenanceStore: write (outbox -> commit -> push, retried on a lost race),
                flush, fetch, records/get/scan (remote-tracking ref + local branch + outbox)
    mlflow_sink optional: mirror records as MLflow runs (the ``mlflow`` extra)

The run engine writes records and reads them back before starting a run; ``reconciler
history`` and ``status`` read them. This package imports only ``reconciler.structs`` (and
the package version).
"""
