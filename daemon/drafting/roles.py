"""Whose words a transcript line is, as far as it is known: "client", "clinician" or nobody.

Two sources, never a guess from what was said:

- hushnote's own labels (``Transcript.speaker_basis`` set): roles only when they are known (an enrolled
  voice, or two channels); ``Speaker 1`` / ``Speaker 2`` have none. A section meant for one role then takes
  only that role's words (``strict``);
- a dialogue someone labelled (``[patient] …``, ``[doctor] …``): the label words below; sections then only
  prefer their role's words.

Attribution in a note: ``Client stated: "…" [00:03:12]`` for the client, ``Therapist: "…" [00:03:40]`` for
the clinician, ``Stated in session: "…"`` when nobody's role is known.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from hushnote.daemon.core.datatypes import Transcript

CLIENT_LABELS = frozenset({"patient", "client", "pt", "cl"})
CLINICIAN_LABELS = frozenset({"doctor", "clinician", "therapist", "counselor", "counsellor", "dr", "provider",
                              "psychologist", "psychiatrist", "nurse"})


def role(speaker: str | None) -> str | None:
    """"client" / "clinician" for a label word of a labelled dialogue, else None."""
    if not speaker:
        return None
    s = speaker.strip().lower()
    if s in CLIENT_LABELS:
        return "client"
    if s in CLINICIAN_LABELS:
        return "clinician"
    return None


@dataclass(frozen=True)
class Speakers:
    """The transcript's speakers whose role is known. ``strict``: hushnote labelled them itself."""

    roles: Mapping[str, str] = field(default_factory=dict)  # line speaker -> "client" | "clinician"
    strict: bool = False

    @property
    def labelled(self) -> bool:
        return bool(self.roles)

    def role(self, speaker: str | None) -> str | None:
        return self.roles.get(speaker.strip()) if speaker else None

    def name(self, speaker: str) -> str:
        """How a note names the speaker: hushnote's role name as configured, a dialogue's label capitalised."""
        return speaker.strip() if self.strict else speaker.strip().capitalize()

    def attribute(self, speaker: str | None, text: str, where: str) -> str:
        """One quote, attributed only to a speaker whose role is known."""
        r = self.role(speaker)
        if r == "client" and speaker:
            return f'{self.name(speaker)} stated: "{text}" {where}'
        if r == "clinician" and speaker:
            return f'{self.name(speaker)}: "{text}" {where}'
        return f'Stated in session: "{text}" {where}'

    def fits(self, speaker: str | None, section_role: str) -> bool:
        """May this speaker's words go to a section meant for ``section_role``? With hushnote's own labels a
        client or clinician section takes only that role's words (and words nobody could be told for)."""
        r = self.role(speaker)
        return not self.strict or section_role == "any" or r is None or r == section_role


NOBODY = Speakers()


def speakers_of(t: Transcript) -> Speakers:
    """The known roles of ``t``'s speakers (see the module)."""
    if t.speaker_basis:
        return Speakers({n: r for n in t.speakers if (r := t.role_of(n))}, True)
    return Speakers({s.speaker.strip(): r for s in t.segments if s.speaker and (r := role(s.speaker))}, False)
