"""Helpers shared by the test tiers and bench/: the only test code another module may import.

paths      REPO, EVAL, SAMPLES (the evaluation material shipped in tests/data)
clock      FakeClock: one controllable clock (wall time for the store/retention/audit, monotonic for the inbox)
config     make_cfg: settings for a test, folders under a temporary root
waiting    wait_for / wait_until: poll a condition against a deadline
speech     the eval speech clips, silent and real WAV/FLAC writers, joined clips with references
aci        ACI-BENCH dialogues as hushnote transcripts (drafting tests and bench)
wer        word error rate as the eval README scores it
pulse      a private PulseAudio server (e2e)
xdesktop   a throwaway X desktop with a system tray (e2e)
daemon     the e2e harness: the real daemon as a subprocess, talked to over IPC
ipc        raw socket helpers for malformed-client tests
tray       the tray's stand-in service and the tray process helpers
workers    Rig: a job store + workers on a temporary folder
isolation  run code in a fresh no-network namespace; run as the ``nobody`` user
plaintext  scan files for audio signatures or transcript words left in the clear
"""
