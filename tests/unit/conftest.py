"""The unit tier runs no model: the risk classifier (a sentence-embedding model) is switched off here, so
risk language is found by the rules alone. tests/integration covers the rules and the classifier together."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hushnote.daemon.drafting.screening import risk, riskmodel


@pytest.fixture(autouse=True)
def rules_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(riskmodel, "judge", lambda sentences: None)
    risk.forget()
    yield
    risk.forget()
