"""Plain data shared by every stage: manifests, object identity, labels, change sets, errors.

Nothing here performs I/O; every other package may import from here, and this package
imports from no other package of the project.
"""
