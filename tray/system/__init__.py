"""What the tray asks of the desktop and the operating system: the backend, folders and the service, dialogs,
notifications, one tray per user, and the hushnote commands it runs."""
