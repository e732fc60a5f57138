"""One view that touches every instrument: a query, a cache get and a model save."""

from __future__ import annotations

from django.core.cache import cache
from django.http import HttpRequest, HttpResponse

from tests.testapp.models import Dog


def visit(request: HttpRequest) -> HttpResponse:
    dogs = Dog.objects.count()
    cached = cache.get("visits")
    Dog(name=f"dog {dogs}").save()
    return HttpResponse(f"{dogs} {cached}")
