"""Response labels equal what the public API says (charset_label reads the headers' store)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.http import (
    FileResponse,
    HttpResponse,
    HttpResponseBase,
    HttpResponseNotModified,
    JsonResponse,
    StreamingHttpResponse,
)

from django_prometheus import state
from django_prometheus.http_labels import charset_label, response_body_size

CONTENT_TYPES = [
    None,
    "text/html",
    "text/plain; charset=latin-1",
    "application/json",
    'text/csv; charset="ISO-8859-15"',
    "application/octet-stream; CHARSET=utf-16",
]
BODIES: list[object] = [b"", b"body", "text \u00e9", b"x" * 70_000, 12345, memoryview(b"mv")]


class RecountedResponse(HttpResponse):
    """A subclass whose content differs from its chunks: the size is its content's."""

    @property
    def content(self) -> bytes:
        joined: bytes = HttpResponse.content.fget(self)  # type: ignore[attr-defined]
        return b"prefix:" + joined

    @content.setter
    def content(self, value: object) -> None:
        HttpResponse.content.fset(self, value)  # type: ignore[attr-defined]


class ReplacedHeaders(dict[str, str]):
    """Headers swapped for a plain mapping by a misbehaving middleware."""


def _plain(body: object, content_type: str | None) -> Callable[[], HttpResponseBase]:
    return lambda: HttpResponse(body, content_type=content_type)


def _responses(tmp_path: Path) -> Iterator[tuple[str, Callable[[], HttpResponseBase]]]:
    for content_type, body in itertools.product(CONTENT_TYPES, BODIES):
        yield f"HttpResponse({body!r:.20}, {content_type})", _plain(body, content_type)

    def written() -> HttpResponse:
        response = HttpResponse(b"first", content_type="text/plain; charset=ascii")
        response.write("second")
        response.writelines([b"third", "fourth"])
        return response

    def explicit_charset() -> HttpResponse:
        response = HttpResponse("é", content_type="text/plain; charset=utf-8")
        response.charset = "latin-1"
        return response

    def without_content_type() -> HttpResponse:
        response = HttpResponse(b"naked")
        del response.headers["Content-Type"]
        return response

    def replaced_headers() -> HttpResponse:
        response = HttpResponse(b"odd", content_type="text/plain; charset=koi8-r")
        response.headers = ReplacedHeaders({"Content-Type": "text/plain; charset=koi8-r"})  # type: ignore[assignment]
        return response

    def replaced_chunks() -> HttpResponse:
        response = HttpResponse(b"chunks")
        response._container = (b"a", b"bc")  # type: ignore[attr-defined]
        return response

    path = tmp_path / "file.bin"
    path.write_bytes(b"file contents")
    yield "written", written
    yield "explicit charset", explicit_charset
    yield "without content type", without_content_type
    yield "replaced headers", replaced_headers
    yield "chunks in a tuple", replaced_chunks
    yield "JsonResponse", lambda: JsonResponse({"a": [1, 2, "é"]})
    yield "subclass with its own content", lambda: RecountedResponse(b"own")
    yield "not modified", HttpResponseNotModified
    yield "streaming", lambda: StreamingHttpResponse(iter([b"a", b"b"]))
    yield "file", lambda: FileResponse(path.open("rb"))


def _public_body_size(response: HttpResponseBase) -> int | None:
    content = getattr(response, "content", None)
    return len(content) if isinstance(content, bytes) else None


def test_labels_equal_what_the_public_api_says(tmp_path: Path) -> None:
    cases = list(_responses(tmp_path))
    assert len(cases) == len(CONTENT_TYPES) * len(BODIES) + 10
    for name, make in cases:
        state.charsets.clear()  # the first read and the memoised one must both agree
        for _ in range(2):
            response = make()
            try:
                assert response_body_size(response) == _public_body_size(response), name
                assert charset_label(response) == str(response.charset), name
            finally:  # not response.close(): its request_finished signal would reach the DB
                stream = getattr(response, "file_to_stream", None)
                if stream is not None:
                    stream.close()


def test_a_json_body_is_counted_in_bytes() -> None:
    payload = {"name": "\u00e9t\u00e9"}
    response = JsonResponse(payload, json_dumps_params={"ensure_ascii": False})
    assert response_body_size(response) == len(json.dumps(payload, ensure_ascii=False).encode())


@pytest.mark.parametrize("chunks", [[b"a", b"bc"], [b"abc"], []])
def test_every_chunk_counts(chunks: list[bytes]) -> None:
    response = HttpResponse()
    response.content = b""
    for chunk in chunks:
        response.write(chunk)
    assert response_body_size(response) == sum(map(len, chunks))
