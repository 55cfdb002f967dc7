"""Source: the watched Git repository.

``repos`` reads refs, commits and trees of a local repository (a work tree, a bare repository
or a mirror of a remote) and materialises a commit's files into a directory without
touching the user's work tree; ``mirrors`` keeps a bare mirror of a remote URL.
"""
