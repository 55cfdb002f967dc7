"""Review: the pull-request report of ``reconciler review BASE..HEAD``.

``reports`` renders both commits (no cluster needed), compares objects, run ids, datasets
and params per environment, and reads provenance records for the metric comparison;
``markdown`` formats the report as a PR comment.
"""
