"""Questions the tray asks before it acts (``state.Ask``: quit while recording, sign a note), as GTK dialogs.

Shown on the GLib main loop the gtk and appindicator backends run; the answer comes back through a
callback, never by blocking the loop. One dialog per question: asking again while it is open brings it
to the front. The safe answer ("Cancel") is the default, so Enter or Escape never signs or quits.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from hushnote.tray.state import APP_NAME, Ask

Answer = Callable[[bool], None]


class GtkAsker:
    """``ask(question, answer)``: show ``question``; ``answer(True)`` if the clinician chose its ``yes``."""

    def __init__(self) -> None:
        self._open: dict[tuple[str, str | None], Any] = {}
        self._lock = threading.Lock()

    def ask(self, question: Ask, answer: Answer) -> None:
        from gi.repository import GLib

        GLib.idle_add(self._show, question, answer)

    def _show(self, question: Ask, answer: Answer) -> bool:
        from gi.repository import Gtk

        key = (question.action.value, question.arg)
        with self._lock:
            shown = self._open.get(key)
        if shown is not None:
            shown.present()
            return False
        d = Gtk.MessageDialog(message_type=Gtk.MessageType.QUESTION, buttons=Gtk.ButtonsType.NONE,
                              text=question.title)
        d.format_secondary_text(question.message)
        d.add_buttons(question.no, Gtk.ResponseType.CANCEL, question.yes, Gtk.ResponseType.OK)
        d.set_default_response(Gtk.ResponseType.CANCEL)
        d.set_title(APP_NAME)
        d.set_keep_above(True)
        d.set_position(Gtk.WindowPosition.CENTER)

        def on_response(dialog: Any, response: int) -> None:
            with self._lock:
                self._open.pop(key, None)
            dialog.destroy()
            answer(response == Gtk.ResponseType.OK)

        d.connect("response", on_response)
        with self._lock:
            self._open[key] = d
        d.show_all()
        d.present()
        return False  # run once
