"""Screening the transcript for what a clinician must not miss: risk language (word rules over lemmas, and a
sentence classifier beside them) and the word-rule engine the must-keep items share."""
