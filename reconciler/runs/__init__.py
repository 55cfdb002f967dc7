"""Runs: the ML heart. Derive each pipeline's run state from the cluster and the records.

``step_metrics`` parses step termination messages; ``promotion`` applies the promote gate;
``observing`` folds live step objects, pods and provenance records into a ``RunState`` and
the records to write (finished, failed, cancelled runs); ``recording`` builds the provenance
record of a finished run. Nothing here remembers anything between reconciles: after a
restart the same inputs give the same answers.
"""
