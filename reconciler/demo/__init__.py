"""``reconciler demo``: the whole loop on the bundled example repository, in the sandbox.

``examples`` finds the example repository and makes a working clone with a bare remote;
``walkthrough`` starts the sandbox and the daemon and walks through push, experiment,
review, bad change and revert, printing what happens.
"""
