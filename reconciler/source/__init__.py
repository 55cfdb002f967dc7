"""Source: the watched Git repository.

``git`` runs every git process (clean environment, C locale, no prompts, timeouts, redacted
messages); ``objects`` reads objects and refs in-process (pygit2); ``repos`` reads refs,
commits and trees of a local repository (a work tree, a bare repository or a mirror of a
remote); ``trees`` materialises a commit's files, or the work tree's, into a directory,
refusing symlinks that lead out of the repository; ``mirrors`` keeps a bare mirror of a
remote URL.
"""
