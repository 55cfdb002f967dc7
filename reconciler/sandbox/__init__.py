"""A local Kubernetes API emulator (``reconciler sandbox``); shares no code with the cluster layer."""
