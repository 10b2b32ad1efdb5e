"""Small HTTP helpers with no domain in them."""

from __future__ import annotations

from starlette.requests import Request

from kohtaamo.kit.errors import BadRequest, TooLarge


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refusing anything over `limit` bytes before reading it all into memory."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise TooLarge(f"the body is larger than {limit} bytes", field="body")
        except ValueError:
            raise BadRequest("Content-Length is not a number", field="content-length") from None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"the body is larger than {limit} bytes", field="body")
        chunks.append(chunk)
    return b"".join(chunks)
