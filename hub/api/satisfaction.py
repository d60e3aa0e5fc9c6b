"""The customer's answer page's API: the question behind a signed link, and the answer.

Public: the signed token in the path is the only capability (it names one
question and expires), so these calls need no session and no CSRF token.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field, StringConstraints

from hub.api.answers import Answer
from hub.api.framework import Access, Api, Call
from hub.api.models import Input
from hub.satisfaction import SCORES, Asking, answer_survey, public_survey

if TYPE_CHECKING:
    from hub.app import Hub

satisfaction_api = Api()
TOKEN = "/api/satisfaction/{token:[A-Za-z0-9_.-]+}"
Comment = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]


class SurveyIn(Input):
    score: int = Field(ge=SCORES.start, le=SCORES.stop - 1, description="1 (bad) to 5 (great)")
    comment: Comment | None = None


class Survey(Answer):
    question: str
    score: int | None
    comment: str | None
    answered_at: datetime | None
    expires_at: datetime = Field(description="until when the answer can be given or changed")


def asking_of(hub: Hub) -> Asking:
    """The question of each channel that asks, and what a link to the answer page needs."""
    return Asking(
        {c.name: c.satisfaction.question for c in hub.settings.channels if c.satisfaction.enabled},
        hub.channels_by_kind,
        hub.secret_key,
        hub.public_url,
    )


@satisfaction_api.route(
    "GET",
    TOKEN,
    summary="The satisfaction question a signed link names, and the answer given so far",
    access=Access.PUBLIC,
    tag="satisfaction",
    response=Survey,
)
async def survey(call: Call) -> dict[str, Any]:
    token = call.request.match_info["token"]
    return await call.hub.db.read(
        partial(public_survey, call.hub.secret_key, token, call.hub.clock.now())
    )


@satisfaction_api.route(
    "POST",
    TOKEN,
    summary="Answer (or, until the link expires, change the answer to) a satisfaction question",
    access=Access.PUBLIC,
    tag="satisfaction",
    body=SurveyIn,
    response=Survey,
)
async def answer(call: Call) -> dict[str, Any]:
    body: SurveyIn = call.body
    token = call.request.match_info["token"]
    return await call.hub.db.write(
        partial(answer_survey, call.hub.secret_key, token, body.score, body.comment)
    )
