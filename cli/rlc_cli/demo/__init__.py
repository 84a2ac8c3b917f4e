"""The demo (``rlc up --demo``): the simulated trial (``rlc_cli.simulate``) loaded into the running
services, and where to look once it is in.

``load_demo`` plays the simulation unless the trial is there already (loading twice does nothing
the second time); ``describe`` says in a few lines what went in; ``guide`` lists the places to
look, each as a command that works when pasted into a shell: the funnel, the response rates per
arm, the workshop dosage, the analysis report, the CONSORT diagram, and the offline check of the
randomisation log.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable, Iterable
from typing import Any

import httpx

from rlc_cli.devkeys import dev_token
from rlc_cli.simulate import Timeline, simulate
from rlc_cli.simulate.gias import LOCAL_AUTHORITIES

DEFAULT_SCHOOLS = 300
DEFAULT_LAS = 10
DEFAULT_SEED = 2021


def already_loaded(urls: dict[str, str]) -> bool:
    """Whether a simulated trial is in recruitment already (its first LA is registered)."""
    first_la = f"{LOCAL_AUTHORITIES[0][0]:03d}"  # every simulated trial's first LA
    headers = {"Authorization": f"Bearer {dev_token(role='trial_manager', sub='demo-check')}"}
    resp = httpx.get(f"{urls['recruitment']}/local-authorities/{first_la}", headers=headers)
    return resp.status_code == 200


def load_demo(
    urls: dict[str, str],
    *,
    schools: int = DEFAULT_SCHOOLS,
    las: int = DEFAULT_LAS,
    seed: int = DEFAULT_SEED,
    echo: Callable[[str], Any] = print,
    progress: Callable[[str, list[Any]], Iterable[Any]] | None = None,
    timeline: Timeline | None = None,
) -> dict[str, Any] | None:
    """Load the simulated trial through the APIs; None if one was loaded before."""
    if already_loaded(urls):
        echo("the simulated trial is loaded already (remove var/ to start again)")
        return None
    summary = simulate(
        urls, schools=schools, las=las, seed=seed, echo=echo, progress=progress, timeline=timeline
    )
    for line in describe(summary):
        echo(line)
    return summary


def _g(entry: dict[str, Any] | None) -> str:
    if not entry or "g" not in entry:
        return (entry or {}).get("status") or "not estimated"
    low, high = entry["ci"]
    return f"g = {entry['g']:.2f} [{low:.2f}, {high:.2f}]"


def describe(summary: dict[str, Any]) -> list[str]:
    """What the simulation put in, in a few lines."""
    rec, rnd = summary["recruitment"], summary["randomisation"]
    ws, sv, an = summary["workshops"], summary["surveys"], summary["analytics"]
    lines = [
        f"simulated trial loaded (seed {summary['seed']}): {summary['schools']} GIAS schools in "
        f"{summary['las']} local authorities; {rec['nominated']} nominated, {rec['eligible']} "
        f"eligible, {rnd['allocated']} randomised ({rnd['arms']['intervention']} intervention, "
        f"{rnd['arms']['control']} control) in a main and a late joiners' run",
        f"  workshops: {ws['enrolled']} schools in {ws['cohorts']} cohorts, "
        + ", ".join(f"{n} {platform} reports" for platform, n in ws["reports"].items())
        + f", {ws['compliers']} compliers under rule v{ws['compliance_rule_version']} (frozen)",
    ]
    for round_, counts in sv["rounds"].items():
        links = ", ".join(f"{path} {n}" for path, n in counts["links"].items())
        rates = ", ".join(
            f"{arm} {rate:.0%}" for arm, rate in sorted(counts["response_rates"].items())
        )
        lines.append(
            f"  surveys {round_}: {counts['rows']} responses ({links}; unmatched "
            f"{counts['unmatched']}, withdrawn teachers left out {counts['withdrawn']}); "
            f"schools responding by arm: {rates}"
        )
    itt = an["itt"]
    lines.append(
        f"  analysis (planted g = {an['planted']['g']}): KS2 reading {_g(itt.get('ks2_reading/all'))}, "
        f"maths {_g(itt.get('ks2_maths/all'))}; teachers' use of research "
        f"{_g(an['teacher_impact'].get('use'))}"
    )
    return lines


def _report_paths(analytics_url: str, token: str) -> dict[str, str] | None:
    """The latest report's picture paths, if an analysis has finished."""
    try:
        resp = httpx.get(
            f"{analytics_url}/report", headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
    except httpx.HTTPError:
        return None
    if resp.status_code != 200:
        return None
    return {name: kinds["svg"] for name, kinds in resp.json().get("pictures", {}).items()}


def guide(urls: dict[str, str], *, trial_manager: str, auditor: str) -> list[str]:
    """Where to look: commands that work as printed (``$`` lines, run in one shell)."""
    rec, rnd, an = urls["recruitment"], urls["randomisation"], urls["analytics"]
    sv, ws = urls["surveys"], urls["workshops"]

    def curl(token: str, url: str, out: str) -> str:
        return (
            f'$ curl -fsS -H "Authorization: Bearer ${token}" -o {out} {shlex.quote(url)}'
            if token
            else f"$ curl -fsS -o {out} {shlex.quote(url)}"
        )

    python = shlex.quote(sys.executable)
    lines = [
        "Where to look (paste the $ lines into a shell, in order; the tokens last 8 hours):",
        f"$ export RLC_TM_TOKEN={trial_manager}",
        f"$ export RLC_AUDITOR_TOKEN={auditor}",
        "The recruitment funnel (a trial manager's view):",
        curl("RLC_TM_TOKEN", f"{rec}/funnel", "funnel.json"),
        "The pre-round questionnaire's response rates per arm, and each school's workshop dosage:",
        curl("RLC_TM_TOKEN", f"{sv}/rounds/pre/response-rates?by=arm", "response-rates.json"),
        curl("RLC_TM_TOKEN", f"{ws}/dosage?limit=500", "dosage.json"),
    ]
    pictures = _report_paths(an, auditor)
    if pictures is not None:
        lines += [
            "The analysis report, and its CONSORT diagram (an auditor's view):",
            curl("RLC_AUDITOR_TOKEN", f"{an}/report", "report.json"),
            curl("RLC_AUDITOR_TOKEN", f"{an}{pictures['consort'].split('?')[0]}", "consort.svg"),
        ]
    lines += [
        "The randomisation log, checked offline: a signed checkpoint, the log, the public keys:",
        curl("RLC_AUDITOR_TOKEN", f"{rnd}/log/checkpoint", "checkpoint.json"),
        curl("RLC_AUDITOR_TOKEN", f"{rnd}/log/export", "log.jsonl"),
        curl("", f"{rnd}/.well-known/jwks.json", "jwks.json"),
        f"$ {python} -m randomisation.verifier log.jsonl --jwks jwks.json "
        "--checkpoint checkpoint.json",
    ]
    return lines
