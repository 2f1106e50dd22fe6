"""Typed dependencies of the route handlers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlmodel import Session

from ledger_app.chain.client import ChainClient
from ledger_app.settings import Settings


def get_settings(request: Request) -> Settings:
    """The application's settings."""
    return request.app.state.settings


def get_chain(request: Request) -> ChainClient:
    """The application's chain client."""
    return request.app.state.chain


def get_engine(request: Request) -> Engine:
    """The application's database engine."""
    return request.app.state.engine


def get_session(engine: Annotated[Engine, Depends(get_engine)]) -> Iterator[Session]:
    """A database session for one request."""
    with Session(engine) as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
ChainDep = Annotated[ChainClient, Depends(get_chain)]
EngineDep = Annotated[Engine, Depends(get_engine)]
SessionDep = Annotated[Session, Depends(get_session)]
