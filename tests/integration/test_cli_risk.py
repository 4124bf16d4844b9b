"""Risk language and medications through the real commands: `hushnote draft` on a plain-text dialogue with
a statement of every category, and `hushnote process` on speech (espeak-ng) with a real Whisper model.

The review block must quote each statement with its category and keep it out of the clinical sections;
ordinary sentences with the same words stay out of it; every medication reaches the note."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hushnote.daemon.drafting.text import clean_quote
from hushnote.daemon.notes import notefile

from tests.support.cli import home_env, run_cli
from tests.support.speech import spoken

CLINICAL_END = "\n## For clinician review"

# One statement per category, said as clients say them (fillers, indirect, negation, past tense).
STATEMENTS = {
    "wish to be dead": "[client] Some nights I, um, hope I just don't wake up.",
    "suicidal thoughts": "[client] I'm not going to do anything, but I think about it, about ending it.",
    "suicide method": "[client] I drove to the bridge and sat there thinking about jumping.",
    "suicidal intent": "[client] I've made up my mind, I'm going to kill myself after the holidays.",
    "suicide plan": "[client] I know exactly how I'd do it, I've got it all planned out.",
    "preparing for suicide": "[client] I bought a rope a few weeks ago.",
    "past suicide attempt": "[client] I swallowed a whole bottle of Tylenol when I was nineteen.",
    "self-harm": "[client] I've been cutting again, mostly on my arms.",
    "harm to others": "[client] I get these pictures in my head of dropping the baby down the stairs.",
    "being harmed": "[client] He checks my phone and won't let me see my friends.",
    "child at risk": "[client] My mom hits my little brother with a belt.",
    "command hallucinations": "[client] The voices keep telling me to hurt myself.",
    "dangerous substance use": "[client] I've been drinking a fifth of vodka every day, you know.",
    "eating-disorder behaviour": "[client] I make myself throw up after I eat.",
    "weapons": "[client] I keep a knife under my pillow.",
    "(about another person)": "[client] My son said he wants to die.",
}
CONTROLS = [
    "[client] This commute is killing me and I'm dying to see the new movie.",
    "[client] My phone died on the train, so I was late.",
    "[client] I cut my hair short and I took my pills this morning.",
    "[client] My grandmother passed away last spring and I still miss her.",
    "[client] We hit traffic on the way here and I drank a lot of water.",
]
MEDICATIONS = [
    "[client] I'm on sertraline, fifty milligrams in the morning.",
    "[client] They raised my lithium to six hundred.",
    "[client] I stopped the Wellbutrin because it made me jittery.",
    "[client] Dr. Patel switched me from Lexapro to Prozac.",
    "[client] The Seroquel makes me so groggy in the morning.",
    "[client] I started Abilify two weeks ago, two milligrams.",
    "[client] We lowered the Klonopin to half a milligram.",
    "[client] I ran out of my Adderall last week.",
]
ORDINARY = [
    "[therapist] How have things been since we last met?",
    "[client] I've been sleeping badly and I feel tired and anxious at work every day.",
    "[client] Work has been stressful because my manager keeps adding projects.",
    "[therapist] It sounds like the stress at work is affecting your sleep.",
    "[therapist] Let's go over your safety plan and who you can call at night.",
    "[therapist] I'll see you next Tuesday at the same time.",
]


def text_of(line: str) -> str:
    return line.split("] ", 1)[1]


def split_note(path: Path) -> tuple[str, list[str]]:
    """(the clinical sections, the review block's bullet lines)."""
    _, body = notefile.parse_front_matter(path.read_text(encoding="utf-8"))
    clinical, _, review = body.partition(CLINICAL_END)
    return clinical, [ln[2:] for ln in review.splitlines() if ln.startswith("- ")]


@pytest.mark.parametrize("template", ["soap", "birp"])
def test_draft_names_every_category_and_keeps_risk_out_of_the_sections(tmp_path: Path, template: str) -> None:
    lines = [ORDINARY[0], *STATEMENTS.values(), *CONTROLS, *MEDICATIONS, *ORDINARY[1:]]
    src = tmp_path / "session.txt"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    r = run(tmp_path / "home", "draft", str(src), "--template", template, "--out", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    fields, _ = notefile.parse_front_matter((tmp_path / "out" / "session.note.md").read_text(encoding="utf-8"))
    assert fields["risk_flags"] == len(STATEMENTS)
    clinical, review = split_note(tmp_path / "out" / "session.note.md")
    assert len(review) == len(STATEMENTS), review
    for (category, line), item in zip(STATEMENTS.items(), review, strict=True):
        said = text_of(line)
        assert item.startswith(f'Client: "{said}" [line '), item  # who said it: the dialogue's [client]
        assert re.search(rf"\] — .*{re.escape(category)}", item), item  # the category is named
        assert said not in clinical and clean_quote(said) not in clinical  # never in a clinical section
    for line in CONTROLS:
        assert not any(text_of(line) in item for item in review)
    for line in MEDICATIONS:  # quoted (cleaned of fillers: drafting.quotes = "clean")
        assert clean_quote(text_of(line)) in clinical
    for line in ORDINARY[4:]:  # the safety plan and the next appointment
        assert clean_quote(text_of(line)) in clinical


SPOKEN = {  # said aloud: what a review block must name for each
    "I have been cutting again, mostly on my arms.": "self-harm",
    "Some nights I hope I just do not wake up.": "wish to be dead",
    "I wrote goodbye letters to my family last week.": "preparing for suicide",
    "My mom hits my little brother with a belt.": "child at risk",
}
SPOKEN_ORDINARY = ["Work has been busy and I feel tired most evenings.", "I am on lithium, six hundred milligrams."]


def run(home: Path, *args: str, config: Path | None = None) -> subprocess.CompletedProcess[str]:
    extra = ["--config", str(config)] if config else []
    return run_cli(args[0], *extra, *args[1:], env=home_env(home), timeout=600)


def test_risk_spoken_in_a_recording_is_quoted_with_its_category(tmp_path: Path) -> None:
    for tool in ("espeak-ng", "sox"):
        assert shutil.which(tool), f"{tool} is not installed (apt-get install {tool})"
    texts = [SPOKEN_ORDINARY[0], *SPOKEN, SPOKEN_ORDINARY[1]]
    audio = spoken(texts, tmp_path / "session.wav")
    config = tmp_path / "config.toml"
    config.write_text('[transcription]\nmodel = "base"\n', encoding="utf-8")
    r = run(tmp_path / "home", "process", str(audio), "--out", str(tmp_path / "out"), "--quiet", config=config)
    assert r.returncode == 0, r.stderr
    clinical, review = split_note(tmp_path / "out" / "session.note.md")
    named = " ".join(review)
    for category in SPOKEN.values():
        assert f"— {category}" in named, (category, review)
    for item in review:
        assert re.search(r'^".+" \[\d\d:\d\d:\d\d\] — ', item), item
        quote = item.split('" [', 1)[0][1:]
        assert quote not in clinical
    assert "lithium" in clinical.lower()
