"""The read-only web UI: environments, pipelines, runs, pending changes and reviews in a browser.

Served by the daemon at ``/`` on its ``--listen`` address, and by ``reconciler ui`` against a
clone and a kubeconfig. It reads what the CLI reads, through the same functions, and adds no
request to the cluster per viewer: pages render from one shared snapshot of engine outcomes.

Modules, in data-path order::

    snapshots   SnapshotStore: environment views made from engine outcomes; live versions
    readers     Git reads for the pages (history, records, review, commits), cached by refs
    redaction   no secret value on any page (text and data)
    charts      SVG: a metric over runs, a run's step graph
    pages       what each page shows (search, pagination)
    app         the Flask application: routes, bearer token, security headers, /events
    serving     run the app inside the daemon's HTTP server; ``reconciler ui``'s refresher

Templates (Jinja2) and the stylesheet, script and icon ship in the package: no CDN.
"""
