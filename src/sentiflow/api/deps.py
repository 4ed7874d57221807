"""FastAPI dependencies as `Annotated` aliases, so routes stay one line per need."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from sentiflow.analytics.service import Analytics
from sentiflow.events import EventBus
from sentiflow.queue.base import Broker
from sentiflow.ranking.engine import Ranker
from sentiflow.runtime import Runtime
from sentiflow.settings import Settings
from sentiflow.store.db import Store


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def get_settings(request: Request) -> Settings:
    return get_runtime(request).settings


def get_store(request: Request) -> Store:
    return get_runtime(request).store


def get_broker(request: Request) -> Broker:
    return get_runtime(request).broker


def get_events(request: Request) -> EventBus:
    return get_runtime(request).events


def get_ranker(request: Request) -> Ranker:
    ranker = get_runtime(request).ranker
    assert ranker is not None, "the app's runtime was started without rank=True"
    return ranker


def get_analytics(request: Request) -> Analytics:
    return get_runtime(request).analytics


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[Store, Depends(get_store)]
BrokerDep = Annotated[Broker, Depends(get_broker)]
EventsDep = Annotated[EventBus, Depends(get_events)]
RankerDep = Annotated[Ranker, Depends(get_ranker)]
AnalyticsDep = Annotated[Analytics, Depends(get_analytics)]
