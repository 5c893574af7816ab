"""Small helpers shared by tests that are not fixtures."""

from __future__ import annotations


def exception_texts(exc: BaseException) -> list[str]:
    """str, repr and args of an exception and of everything chained to or grouped in it: every
    place a secret could leak through an error."""
    texts: list[str] = []
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        texts += [str(current), repr(current), *map(str, current.args)]
        todo += [current.__cause__, current.__context__]
        if isinstance(current, BaseExceptionGroup):
            todo += list(current.exceptions)
    return texts
