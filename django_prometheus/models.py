"""Counting inserts, updates and deletes of model instances.

::

    class Dog(ExportModelOperationsMixin("dog"), models.Model):
        name = models.CharField(max_length=100)

What is counted, per model label:

* ``django_model_inserts_total``: one per ``save()``/``asave()`` that INSERTs the
  instance's row.
* ``django_model_updates_total``: one per ``save()``/``asave()`` that UPDATEs the
  instance's row *and matched it*. When the UPDATE matches no row Django falls
  back to an INSERT, which is then counted as the insert it is, not as both.
* ``django_model_deletes_total``: one per ``delete()``/``adelete()`` that removed
  at least one row.

A save of a multi-table-inheritance child writes one row per table; it counts
once, for the instance's own table. ``asave``/``adelete`` run ``save``/``delete``
and so count exactly once. An operation that raises is not counted.

Not counted (they never go through an instance): ``QuerySet.update()``,
``QuerySet.delete()``, ``bulk_create()``, ``bulk_update()``, raw SQL, and rows
removed by cascades.

The mixin is an abstract model, so ``makemigrations`` flattens it away: the
migrations of a model that uses it look exactly like those of a plain model and
neither import nor depend on django_prometheus. (Migrations written by the
established package, which name ``django_prometheus.models.ExportModelOperationsMixin('dog')``
as a base, keep importing and applying too.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from django.db import models

from django_prometheus import state
from django_prometheus.safety import instrumentation_failed
from django_prometheus.sinks.provider import SinkSlot, default_sinks, fixed_slot

if TYPE_CHECKING:
    from django_prometheus.sinks.protocols import BoundModelSink, ModelSink

__all__ = ["ExportModelOperationsMixin"]


def ExportModelOperationsMixin(
    model_name: str, sink: ModelSink | None = None
) -> type[models.Model]:
    """A base class for a model that counts its instances' inserts, updates and deletes.

    ``model_name`` becomes the ``model`` label; its three series exist at 0 from
    this call on. ``sink`` defaults to the prometheus sink of the global registry;
    the mixin for a name is then made once and shared. Call it where models are
    defined (it makes an abstract model, so the app registry must be importing
    models, as it is in any ``models.py``).
    """
    if not isinstance(model_name, str):
        raise TypeError(
            f"ExportModelOperationsMixin() expects the model label as a str, "
            f"got {type(model_name).__name__}: {model_name!r}"
        )
    if not model_name:
        raise ValueError("ExportModelOperationsMixin() expects a non-empty model label")
    if sink is not None:
        return _build_mixin(model_name, fixed_slot(sink.bind(model_name)))
    return state.model_mixins.get(model_name, lambda: _followed_mixin(model_name))


def _followed_mixin(model_name: str) -> type[models.Model]:
    slot = SinkSlot(lambda bundle: (bundle or default_sinks()).model.bind(model_name))
    # Bound now so that the three series exist at 0 from this call on.
    slot.get()
    return _build_mixin(model_name, slot)


def _writes_own_table(
    instance: models.Model, args: tuple[Any, ...], keyword: str, kwargs: dict[str, Any]
) -> bool:
    # Django passes the manager/queryset of the table being written first; for a
    # multi-table-inheritance parent table it belongs to the parent model.
    target = args[0] if args else kwargs.get(keyword)
    model = getattr(target, "model", None)
    return model is None or model is instance._meta.concrete_model


def _nearest(instance: models.Model, slot: SinkSlot[BoundModelSink]) -> bool:
    # With several of these mixins in one model's ancestry only the nearest one
    # counts, so that each operation is counted once.
    nearest: object = getattr(type(instance), "_prometheus_model_slot", None)
    return nearest is slot


def _build_mixin(model_name: str, slot: SinkSlot[BoundModelSink]) -> type[models.Model]:
    class Mixin(models.Model):
        _prometheus_model_slot: ClassVar[SinkSlot[BoundModelSink]] = slot

        class Meta:
            abstract = True

        def __init_subclass__(cls, **kwargs: Any) -> None:
            # Django's ModelBase inherits ordering and get_latest_by from the first _meta
            # in the MRO: ours, abstract, when the mixin comes first. Until ModelBase
            # sets the class's own _meta, show it the _meta it would see without us.
            super().__init_subclass__(**kwargs)
            for base in cls.__mro__[1:]:
                if "_meta" in vars(base) and not _is_generated_mixin(base):
                    cls._meta = vars(base)["_meta"]
                    break

        def _do_insert(self, *args: Any, **kwargs: Any) -> Any:
            result = super()._do_insert(*args, **kwargs)  # type: ignore[misc]
            if _nearest(self, slot) and _writes_own_table(self, args, "manager", kwargs):
                try:
                    slot.get().model_inserted()
                except Exception as error:
                    instrumentation_failed("model", error)
            return result

        def _do_update(self, *args: Any, **kwargs: Any) -> Any:
            # True (Django < 6) or the returned rows (Django 6): truthy when a row matched.
            result = super()._do_update(*args, **kwargs)
            if result and _nearest(self, slot) and _writes_own_table(self, args, "base_qs", kwargs):
                try:
                    slot.get().model_updated()
                except Exception as error:
                    instrumentation_failed("model", error)
            return result

        def delete(
            self, using: Any | None = None, keep_parents: bool = False
        ) -> tuple[int, dict[str, int]]:
            result = super().delete(using=using, keep_parents=keep_parents)
            if _nearest(self, slot) and _rows_deleted(result):
                try:
                    slot.get().model_deleted()
                except Exception as error:
                    instrumentation_failed("model", error)
            return result

        delete.alters_data = True  # type: ignore[attr-defined]

    # Django hands an abstract base's Meta (with abstract=False) down to children
    # that declare none, and makemigrations then writes options={"abstract": False}.
    # Without it a child's migration is exactly that of a plain model.
    Mixin._djp_generated_mixin = True  # type: ignore[attr-defined]
    del Mixin.Meta
    # What repr() shows, and what Django's migration writer would emit if it ever
    # serialised this class: a call that rebuilds it.
    Mixin.__name__ = "ExportModelOperationsMixin"
    Mixin.__qualname__ = f"ExportModelOperationsMixin({model_name!r})"
    return Mixin


def _is_generated_mixin(cls: type) -> bool:
    return vars(cls).get("_djp_generated_mixin", False) is True


def _rows_deleted(result: object) -> bool:
    if isinstance(result, tuple) and result and isinstance(result[0], int):
        return result[0] > 0
    # Someone else's override changed the return value; the delete still ran.
    return True
