"""What hushnote says in plain words: the client consent text (and the README's copy of it), the speed verdict."""

from __future__ import annotations

from hushnote.daemon.core.config import defaults
from hushnote.daemon.privacy import consent

from tests.support.paths import REPO


def test_consent_text_defaults_and_phrases() -> None:
    text = consent.client_text(defaults())
    assert "deleted as soon as I sign my note, and at the latest 3 days after my note is written" in text
    assert "transcript stays with my notes" in text
    keep = consent.client_text(defaults().with_overrides(retention__after_sign="keep"))
    assert "recording is deleted 3 days after my note is written" in keep and "sign" not in keep
    assert [consent.days_phrase(d) for d in (1, 2, 0.5, 1.5, 0.01)] == ["1 day", "2 days", "12 hours",
                                                                        "1.5 days", "1 hour"]
    zero = consent.client_text(defaults().with_overrides(retention__audio_days=0))
    assert "deleted as soon as my note is written" in zero


def test_readme_consent_paragraph_is_what_the_command_prints_with_the_defaults() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## What to tell your client", 1)[1].split("\n## ", 1)[0]
    quoted = [line[1:].strip() for line in section.splitlines() if line.startswith(">")]
    assert " ".join(" ".join(quoted).split()) == " ".join(consent.client_text(defaults()).split())


def test_speed_verdicts_in_plain_words() -> None:
    from hushnote.daemon.cli.doctor import OK, WARN, verdict

    assert verdict(0.05) == (OK, "fast enough for sessions of any usual length (a 50-minute session takes "
                                 "about 2 minute(s) to transcribe here).")
    status, words = verdict(0.5)
    assert status == OK and words.startswith("fast enough for 120-minute sessions, each transcribed within an hour")
    status, words = verdict(1.5)
    assert status == WARN and words.startswith("slow: only sessions up to 40 minutes are transcribed within an hour")
    assert "about 75 minute(s)" in words
