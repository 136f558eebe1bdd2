"""What a text encoder reads of a query: the model and its exported text graph both tell the user
when a query is longer than the model's context (CLIP: 77 tokens), with the same words. Its own
module, so that :mod:`.encoder` and :mod:`.text_graph` import it and not each other."""

from __future__ import annotations

from collections.abc import Callable


def overflow_note(count: Callable[[str], int], limit: int, text: str) -> str | None:
    """Why a model that reads ``limit`` tokens will not read all of ``text`` (``count`` gives a
    text's tokens, start and end markers included), or None when it reads it whole."""
    total = count(text)
    if total <= limit:
        return None
    words = text.split()
    kept = next((k for k in range(len(words), 0, -1) if count(" ".join(words[:k])) <= limit), 0)
    tail = " ".join(words[kept : kept + 4])
    return (
        f"the query is {total} tokens long and the model reads only {limit}: "
        f"it stops before {tail!r}; put what matters first or shorten it"
    )
