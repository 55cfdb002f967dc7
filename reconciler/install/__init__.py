"""The in-cluster install of the daemon (``reconciler manifests``): see ``manifests``."""
