"""Runs: the ML heart. Derive each pipeline's run state from the cluster and the records.

``tracking`` takes every run of an environment instance through one reconcile (the
engine's "track runs" step); ``observing`` folds live step objects, pods and provenance
records into a ``RunState`` and the records to write (finished, failed, cancelled runs);
``recording`` builds the provenance record of a finished run; ``step_metrics`` parses step
termination messages; ``promotion`` applies the promote gate; ``reasons`` says in one line
why a run ended; ``retries`` reads and writes ``reconciler retry``'s requests; ``trimming``
says what a full pass holds of step objects and pods (no pod templates, no
``managedFields``) and which ones a record must read again whole. Nothing here
remembers anything between reconciles: after a restart the same inputs give the same
answers.
"""
