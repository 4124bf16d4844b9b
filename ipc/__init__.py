"""hushnote ipc package."""
