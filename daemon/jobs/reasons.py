"""Why a job failed, in plain words for a clinician, from the code the store keeps (``last_error``).

The store keeps ``"code: generic text"`` (never a name or a path). Clients (``hushnote queue``, the tray)
show ``plain_reason``: one short sentence, no internal code. The full story (which file, what to do) is
in the job's error report ``Notes/<session>.error.txt``.
"""

from __future__ import annotations

from typing import Final

REASONS: Final[dict[str, str]] = {
    # the inbox's cheap check (hushnote.daemon.jobs.inbox.check_inbox_file)
    "not_audio": "The file is not audio (or is damaged).",
    "empty": "The file is empty: there is no recording in it.",
    "zero_length": "The recording is 0 seconds long: it holds no sound.",
    "unreadable": "The file could not be read.",
    "symlink": "The file is a shortcut, not a recording.",
    "directory": "A folder was put into the inbox, not a recording.",
    "not_file": "The file is not a regular file.",
    "consent_not_confirmed": "Held: consent for inbox recordings is not confirmed in the settings.",
    # the pipeline (hushnote.daemon.service.workers)
    "input_error": "The recording could not be read: it is damaged, incomplete or not audio.",
    "too_little_speech": "There is too little speech in the recording to write a note.",
    "internal": "Something unexpected went wrong while making the note.",
    "interrupted": "Processing was interrupted three times before it could finish.",
    "lost": "The file disappeared while it was being taken in.",
}
UNKNOWN: Final = "The recording could not be made into a note."


def error_code(error: str | None) -> str | None:
    """The code before the first colon of a stored error (``"not_audio: …"`` -> ``"not_audio"``)."""
    if not error:
        return None
    code, _, _ = error.partition(":")
    return code.strip() or None


def plain_reason(error: str | None) -> str | None:
    """One plain sentence for a stored error; None when there is no error. Unknown codes get a
    general sentence rather than the code itself."""
    code = error_code(error)
    if code is None:
        return None
    return REASONS.get(code, UNKNOWN)
