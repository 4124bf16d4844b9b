"""``python -m hushnote.daemon.cli``: the hushnote command."""

from hushnote.daemon.cli.main import main

raise SystemExit(main())
