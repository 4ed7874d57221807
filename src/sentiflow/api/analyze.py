"""/api/analyze: label texts now, without storing them (scope read)."""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter
from pydantic import AfterValidator, BaseModel, Field

from sentiflow.api.deps import OnDemandDep, ReadKey
from sentiflow.models import MAX_TEXT, Labels, normalize_text

router = APIRouter(prefix="/api/analyze", tags=["analyze"])
MAX_TEXTS: Final = 1_000


def _text(value: str) -> str:
    value = normalize_text(value)
    if not value:
        raise ValueError("the text is empty after normalisation; send 1 to 10,000 characters")
    if len(value) > MAX_TEXT:
        raise ValueError(f"the text has {len(value):,} characters; send at most {MAX_TEXT:,}")
    return value


class AnalyzeIn(BaseModel):
    texts: list[Annotated[str, AfterValidator(_text)]] = Field(
        min_length=1, max_length=MAX_TEXTS, description="1 to 1,000 texts; answered in order."
    )
    model: str | None = Field(
        None,
        max_length=80,
        description="An installed analyzer (builtin-fast, lexicon, …); default: the server's.",
    )


class TextAnalysis(Labels):
    lang: str | None = Field(
        None,
        description="The text's language (ISO 639-1) as identified; null when the language "
        "model is unsure. A language the model has no training data for gets a hedged answer "
        "whose model_version ends in `+unsupported-lang`.",
    )


class AnalyzeOut(BaseModel):
    results: list[TextAnalysis]


@router.post(
    "",
    response_model=AnalyzeOut,
    responses={404: {"description": "`model` is not installed on this server."}},
)
async def analyze(body: AnalyzeIn, on_demand: OnDemandDep, _: ReadKey) -> AnalyzeOut:
    """Sentiment and emotion of up to 1,000 texts, one result per text in order. Nothing is
    stored; a bad text is refused with its index (`texts.3`)."""
    analyses = await on_demand.analyze(body.texts, model=body.model)
    return AnalyzeOut(
        results=[
            TextAnalysis(
                sentiment=a.sentiment,
                sentiment_confidence=a.sentiment_confidence,
                sentiment_probs=a.sentiment_probs,
                polarity=a.polarity,
                emotion=a.emotion,
                emotion_confidence=a.emotion_confidence,
                emotion_probs=a.emotion_probs,
                model_version=a.model_version,
                lang=a.lang,
            )
            for a in analyses
        ]
    )
