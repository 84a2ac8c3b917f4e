"""Results: scale summaries, response rates, the schools to remind, the analysis download.

Everything is computed from the stored, linked responses (those of withdrawn teachers are not
stored), so a resolution in the unmatched queue or a deletion on request shows at once.

Response rates are per randomised school: the denominator is the randomisation service's live
allocations (an allocation flagged in error stays in, as randomised schools do in an
intention-to-treat analysis), read with this service's own token and then cut to what the
caller may see (a Virtual School: its LA's schools; a school: itself). When randomisation or
recruitment cannot answer, the answer is a 503 problem saying so, never a partial guess.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Any, Literal

import numpy as np
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from rlc_clients import RecruitmentClient
from rlc_clients.randomisation import LiveAllocations
from rlc_shared.auth import Principal
from rlc_shared.db import Transactions, transaction
from rlc_shared.errors import UpstreamError
from rlc_shared.policy import Target, authorize, visibility
from rlc_shared.versions import VersionedCache
from surveys.errors import DependencyUnavailable, LocalAuthorityNotInTrial, SchoolNotRandomised
from surveys.models import CodebookVersion, RoundName, SurveyResponse
from surveys.rounds.service import current_codebook, get_round
from surveys.schemas import (
    NonRespondingOut,
    NonRespondingSchool,
    RateRow,
    RatesOut,
    ScaleRow,
    ScalesOut,
)
from surveys.scoring import SCALE_NAMES, Codebook, ScaleAccumulator
from surveys.scoring.packing import layout, unpack

RATES_ACTION = "survey.read_response_rates"
NON_RESPONDERS_ACTION = "survey.read_non_responders"
#: Counts of the responses, once per version of them (triggers on ``survey_response`` change the
#: version: migration 0004, ``rlc_shared.versions``).
RESPONSES = VersionedCache("responses")
_BATCH = 5000


# --- scales ---------------------------------------------------------------------------------


def scales(session: Session, *, round: RoundName) -> ScalesOut:
    """n, mean, SD and Cronbach's alpha per scale over the round's linked responses scored with
    its current codebook (alpha on respondents who answered every item)."""
    _, version, codebook = current_codebook(session, name=round.value)
    accumulators = {
        name: ScaleAccumulator(items=len(scale.items), needed=scale.needed(codebook.min_answered))
        for name, scale in codebook.scales.items()
    }
    linked = (
        SurveyResponse.round == round.value,
        col(SurveyResponse.urn).is_not(None),
    )
    after = 0
    while True:
        rows = session.exec(
            select(SurveyResponse.id, SurveyResponse.items)
            .where(*linked, SurveyResponse.codebook_version_id == version.id)
            .where(col(SurveyResponse.id) > after)
            .order_by(col(SurveyResponse.id))
            .limit(_BATCH)
        ).all()
        if not rows:
            break
        after = rows[-1][0] or after
        matrices = unpack([items for _, items in rows], codebook)
        for name, accumulator in accumulators.items():
            accumulator.add(matrices[name])
    others = session.exec(
        select(func.count())
        .select_from(SurveyResponse)
        .where(*linked, SurveyResponse.codebook_version_id != version.id)
    ).one()
    data = []
    for name in SCALE_NAMES:
        if name not in accumulators:
            continue
        summary = accumulators[name].summary()
        data.append(
            ScaleRow(
                scale=name,
                n=summary.n,
                mean=summary.mean,
                sd=summary.sd,
                alpha=summary.alpha,
                items=summary.items,
                complete_cases=summary.complete_cases,
            )
        )
    return ScalesOut(
        round=round,
        codebook_version=version.version,
        data=data,
        responses_on_other_codebooks=int(others),
    )


# --- response rates -------------------------------------------------------------------------


def _allocations(allocations: LiveAllocations) -> list[dict[str, Any]]:
    try:
        return allocations.all()
    except UpstreamError as exc:
        raise DependencyUnavailable(
            "Response rates are per randomised school, and the randomisation service, which "
            f"lists them, cannot answer now ({exc.detail}). Try again shortly."
        ) from None


def _visible(
    principal: Principal,
    allocations: list[dict[str, Any]],
    *,
    la_code: str | None,
    urn: int | None,
    action: str = RATES_ACTION,
) -> list[dict[str, Any]]:
    """The allocations the caller may see, narrowed to ``la_code``/``urn`` if given (an LA or
    school outside the caller's scope is answered exactly as one not in the trial)."""
    if la_code is not None:
        found = [a for a in allocations if a.get("la_code") == la_code]

        def no_la() -> LocalAuthorityNotInTrial:
            return LocalAuthorityNotInTrial(f"No randomised school is in LA {la_code}.")

        if not found:
            raise no_la()
        authorize(principal, action, Target(la_code=la_code), hidden=no_la)
        allocations = found
    if urn is not None:
        found = [a for a in allocations if a.get("urn") == urn]

        def no_school() -> SchoolNotRandomised:
            return SchoolNotRandomised(
                f"School {urn} is not a randomised school"
                + (f" of LA {la_code}" if la_code else "")
                + "."
            )

        if not found:
            raise no_school()
        authorize(
            principal,
            action,
            Target(la_code=found[0].get("la_code"), urn=urn),
            hidden=no_school,
        )
        allocations = found
    vis = visibility(principal, action)
    return [
        a for a in allocations if vis.covers(Target(la_code=a.get("la_code"), urn=a.get("urn")))
    ]


def _responses_by_school(transactions: Transactions, *, round: RoundName) -> dict[int, int]:
    """Linked responses per school in the round (which must be set up), counted once per
    version of the responses."""
    with transactions() as session:
        counts = RESPONSES.get_or_compute(
            session, ("by_school", round.value), lambda: _count_by_school(session, round=round)
        )
    return dict(counts)


def _count_by_school(session: Session, *, round: RoundName) -> dict[int, int]:
    get_round(session, name=round.value)
    rows = session.exec(
        select(SurveyResponse.urn, func.count())
        .where(SurveyResponse.round == round.value, col(SurveyResponse.urn).is_not(None))
        .group_by(col(SurveyResponse.urn))
    ).all()
    return {int(urn): int(n) for urn, n in rows if urn is not None}


def response_rates(
    transactions: Transactions,
    *,
    live: LiveAllocations,
    principal: Principal,
    round: RoundName,
    by: Literal["arm", "la", "school"],
    la_code: str | None = None,
    urn: int | None = None,
) -> RatesOut:
    counts = _responses_by_school(transactions, round=round)
    allocations = _visible(principal, _allocations(live), la_code=la_code, urn=urn)
    groups: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for allocation in allocations:
        key = {"arm": allocation.get("arm"), "la": allocation.get("la_code")}.get(
            by, allocation.get("urn")
        )
        groups[key].append(allocation)
    data = []
    for key in sorted(groups, key=lambda k: (k is None, str(k) if by != "school" else k)):
        members = groups[key]
        responses = [counts.get(int(a["urn"]), 0) for a in members]
        responding = sum(1 for n in responses if n)
        row = RateRow(
            schools=len(members),
            responding_schools=responding,
            responses=sum(responses),
            rate=responding / len(members),
        )
        if by == "arm":
            row.arm = key
        elif by == "la":
            row.la_code = key
        else:
            row.urn, row.la_code, row.arm = key, members[0].get("la_code"), members[0].get("arm")
        data.append(row)
    return RatesOut(round=round, by=by, data=data)


def non_responding(
    transactions: Transactions,
    *,
    live: LiveAllocations,
    recruitment: RecruitmentClient,
    principal: Principal,
    round: RoundName,
    la_code: str | None = None,
) -> NonRespondingOut:
    """The randomised schools (that the caller may see) with no linked response in the round."""
    counts = _responses_by_school(transactions, round=round)
    allocations = _visible(
        principal,
        _allocations(live),
        la_code=la_code,
        urn=None,
        action=NON_RESPONDERS_ACTION,
    )
    silent = sorted(
        (a for a in allocations if not counts.get(int(a["urn"]))), key=lambda a: a["urn"]
    )
    names: dict[int, str | None] = {}
    if silent:
        try:
            names = {
                int(s["urn"]): s.get("name")
                for s in recruitment.iter_schools(in_trial=True, la_code=la_code)
            }
        except UpstreamError as exc:
            raise DependencyUnavailable(
                "The recruitment service, which names the schools, cannot answer now "
                f"({exc.detail}). Try again shortly."
            ) from None
    data = [
        NonRespondingSchool(
            urn=int(a["urn"]),
            la_code=a.get("la_code"),
            arm=str(a.get("arm")),
            name=names.get(int(a["urn"])),
        )
        for a in silent
    ]
    return NonRespondingOut(round=round, data=data, count=len(data))


# --- the analysis download ------------------------------------------------------------------

CSV_COLUMNS = [
    "teacher_key",
    "round",
    "urn",
    "la_code",
    "link_kind",
    "role",
    "knowledge",
    "attitudes",
    "use",
    "codebook_version",
    "export_id",
]
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    """Text as it is, except that a spreadsheet must not run it as a formula."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return "" if value is None else value


def responses_csv(engine: Engine, *, round: RoundName) -> Iterator[bytes]:
    """The round's linked, scored, pseudonymised responses as CSV, streamed in batches (each
    read in its own short transaction). Item columns are the current codebook's, with the
    usable reverse-coded answers of responses scored with it."""
    with transaction(engine) as session:
        _, version, codebook = current_codebook(session, name=round.value)
        numbers = dict(session.exec(select(CodebookVersion.id, CodebookVersion.version)).all())
    items = [item for name, _ in layout(codebook) for item in codebook.scales[name].items]
    return _csv_batches(
        engine,
        round=round,
        version_id=version.id,
        numbers=numbers,
        codebook=codebook,
        items=items,
    )


def _csv_batches(
    engine: Engine,
    *,
    round: RoundName,
    version_id: int | None,
    numbers: dict[int | None, int],
    codebook: Codebook,
    items: Sequence[str],
) -> Iterator[bytes]:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS + [_cell(item) for item in items])
    after = 0
    while True:
        with transaction(engine) as session:
            rows = session.exec(
                select(SurveyResponse)
                .where(
                    SurveyResponse.round == round.value,
                    col(SurveyResponse.urn).is_not(None),
                    col(SurveyResponse.id) > after,
                )
                .order_by(col(SurveyResponse.id))
                .limit(2000)
            ).all()
        current = [r.items for r in rows if r.codebook_version_id == version_id]
        matrix = (
            np.hstack(list(unpack(current, codebook).values()))
            if current
            else np.empty((0, len(items)))
        )
        position = 0
        for r in rows:
            if r.codebook_version_id == version_id:
                answers = [None if np.isnan(v) else float(v) for v in matrix[position]]
                position += 1
            else:
                answers = [None] * len(items)
            writer.writerow(
                [
                    r.teacher_key,
                    r.round,
                    r.urn,
                    r.la_code,
                    r.link_kind,
                    _cell(r.role),
                    r.knowledge,
                    r.attitudes,
                    r.use,
                    numbers.get(r.codebook_version_id),
                    r.export_id,
                    *(_cell(a) for a in answers),
                ]
            )
        yield out.getvalue().encode("utf-8")
        out.seek(0)
        out.truncate()
        if len(rows) < 2000:
            return
        after = rows[-1].id or after
