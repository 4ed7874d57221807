"""Erasure (scope admin): DELETE /api/posts/{id} and DELETE /api/authors/{source}/{author}
remove the posts with their analyses, labels, corrections and urgent rows, and take them out of
every rollup in the same transaction; dataset snapshots holding them are marked."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from sentiflow.api.deps import AdminKey, EraserDep
from sentiflow.lifecycle import erase_author, erase_post
from sentiflow.store.lifecycle import Erased

router = APIRouter(tags=["erasure"])


class ErasedOut(BaseModel):
    erased: int = Field(description="Posts removed.")
    ids: list[str]
    datasets_marked: int = Field(
        description="Dataset snapshots that hold some of these posts, now marked (erased_at)."
    )


def _out(erased: Erased) -> ErasedOut:
    return ErasedOut(erased=len(erased.ids), ids=erased.ids, datasets_marked=erased.datasets_marked)


@router.delete("/api/posts/{post_id}", response_model=ErasedOut)
async def delete_post(post_id: str, eraser: EraserDep, _: AdminKey) -> ErasedOut:
    """Erase one post (404 if it is not stored)."""
    return _out(await erase_post(eraser, post_id))


@router.delete("/api/authors/{source}/{author}", response_model=ErasedOut)
async def delete_author(source: str, author: str, eraser: EraserDep, _: AdminKey) -> ErasedOut:
    """Erase every post of one author in one source (the name as sent; hashed first when
    SENTIFLOW_HASH_AUTHORS is on). Erasing an author with no posts is not an error."""
    return _out(await erase_author(eraser, source, author))
