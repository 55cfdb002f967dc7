"""The command line: parses arguments, calls the library, prints. No logic of its own.

One module per command (``reconciler/cli/<command>.py`` exposing ``command``), loaded
lazily by ``main`` so that ``reconciler --help`` stays fast.
"""
