"""URLs of the HTTP middleware integration tests, included under ``/http/``."""

from __future__ import annotations

from django.urls import URLPattern, path, re_path

from tests.testapp import views_http

urlpatterns: list[URLPattern] = [
    path("ok/", views_http.ok, name="http-ok"),
    path("unnamed/", views_http.unnamed),
    path("echo/", views_http.echo, name="http-echo"),
    path("boom/", views_http.boom, name="http-boom"),
    path("missing/", views_http.missing, name="http-missing"),
    path("stream/", views_http.stream, name="http-stream"),
    path("download/", views_http.download, name="http-download"),
    path("page/", views_http.page, name="http-page"),
    path("healthz/", views_http.healthz, name="http-healthz"),
    path("exempt-boom/", views_http.exempt_boom, name="http-exempt-boom"),
    path("async/ok/", views_http.async_ok, name="http-async-ok"),
    path("async/boom/", views_http.async_boom, name="http-async-boom"),
    path("async/stream/", views_http.async_stream, name="http-async-stream"),
    path("async/page/", views_http.async_page, name="http-async-page"),
    path("async/slow/", views_http.async_slow, name="http-async-slow"),
    path("items/<int:pk>/", views_http.item, name="http-item"),
    re_path(r"^legacy/(?P<year>[0-9]{4})/$", views_http.legacy, name="http-legacy"),
]
