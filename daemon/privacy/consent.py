"""What to tell a client about the recording, in plain words, with this computer's actual settings.

``hushnote consent-text`` prints ``client_text(cfg)``; the README has the same paragraph with the defaults.
Nothing here is a legal form: it is the plain-language explanation that goes with the practice's paperwork.
"""

from __future__ import annotations

from hushnote.daemon.core.config import Config


def days_phrase(days: float) -> str:
    """``3`` → "3 days", ``1`` → "1 day", ``0.5`` → "12 hours", ``0`` → "" (caller words it)."""
    if days <= 0:
        return ""
    if days < 1:
        hours = max(1, round(days * 24))
        return f"{hours} hour" + ("" if hours == 1 else "s")
    n = round(days, 1)
    text = f"{n:g}"
    return f"{text} day" + ("" if n == 1 else "s")


def _deleted_after(days: float) -> str:
    phrase = days_phrase(days)
    return "as soon as my note is written" if not phrase else f"{phrase} after my note is written"


_BOTH_CHANNELS = (" Because we meet by video call, two things are recorded: my microphone, and the sound of the "
                  "call as it plays on this laptop, which carries your voice.")


def client_text(cfg: Config) -> str:
    """The paragraph a clinician can read aloud before recording (retention numbers from ``cfg``)."""
    audio_days = float(cfg["retention.audio_days"])
    max_days = float(cfg["retention.max_audio_days"])
    transcript = cfg["retention.transcript_days"]
    lines = [
        "I would like to record our session so that I can write my notes afterwards."
        + (_BOTH_CHANNELS if cfg["recording.system_audio"] else ""),
        "The recording is made on this laptop, and the draft of my note is written on this laptop too, "
        "by a program that works without the internet. Nothing goes anywhere: not the recording, "
        "not the text, not the note. No company and no cloud service receives any of it.",
        ("The recording is deleted as soon as I sign my note, and at the latest "
         if cfg["retention.after_sign"] == "delete" and audio_days > 0 else "The recording is deleted ")
        + _deleted_after(audio_days)
        + (f" (if something goes wrong, it is kept at most {days_phrase(max_days) or '0 days'} so that I can "
           "try again)." if max_days > 0 else "."),
    ]
    if transcript == "keep":
        lines.append("The written transcript stays with my notes, like my other records.")
    else:
        lines.append(f"The written transcript is deleted {_deleted_after(float(transcript))}.")
    if cfg["storage.encrypt_audio"]:
        lines.append("While the recording is kept, it is stored encrypted.")
    lines.append("I read and correct the note myself before it goes into your record. You can say no to "
                 "the recording, or ask me to stop it at any time; it does not change your care.")
    return "\n\n".join([lines[0] + " " + lines[1], " ".join(lines[2:])])
