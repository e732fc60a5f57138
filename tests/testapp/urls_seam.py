from __future__ import annotations

from django.urls import URLPattern, path

from tests.testapp import views_seam

urlpatterns: list[URLPattern] = [path("visit/", views_seam.visit, name="visit")]
