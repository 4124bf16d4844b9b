"""hushnote tray package."""
