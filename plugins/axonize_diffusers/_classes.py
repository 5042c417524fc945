"""Which classes get wrapped: every ``DiffusionPipeline`` subclass, now and later.

Each pipeline defines its own ``__call__`` (the base class has none), so wrapping the base is not
enough, and importing all ~300 pipeline modules to wrap them up front would cost seconds.
Instead the classes already created are wrapped at activation (walking ``__subclasses__``),
and ``DiffusionPipeline.__init_subclass__`` wraps every class created afterwards: the pipelines
Diffusers imports lazily and the user's own subclasses alike.  ``progress_bar`` is wrapped
wherever a class defines one (the base, and the few pipelines that override it).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from typing import Any

import wrapt

from axonize_core.instrumentation import log_internal_error, unwrap
from axonize_diffusers._call import traced_call, traced_progress_bar

_WRAPPERS: tuple[tuple[str, Callable[..., Any]], ...] = (
    ("__call__", traced_call),
    ("progress_bar", traced_progress_bar),
)
#: Every class this plugin wrapped, with the names it wrapped there (for ``remove``).
_WRAPPED: weakref.WeakKeyDictionary[type, list[str]] = weakref.WeakKeyDictionary()
_HOOK_MARK = "_axonize_diffusers_hook"
_INIT_SUBCLASS = "__init_subclass__"
_super: Any = super


def patch_class(cls: type) -> None:
    """Wrap what ``cls`` itself defines (inherited attributes are wrapped on their owner)."""
    for name, wrapper in _WRAPPERS:
        fn = cls.__dict__.get(name)
        if fn is None or isinstance(fn, wrapt.FunctionWrapper) or not callable(fn):
            continue
        wrapt.wrap_function_wrapper(cls, name, wrapper)
        _WRAPPED.setdefault(cls, []).append(name)


def _subclasses(base: type) -> Iterator[type]:
    seen: set[type] = set()
    stack: list[type] = list(type.__subclasses__(base))
    while stack:
        cls = stack.pop()
        if cls in seen:
            continue
        seen.add(cls)
        yield cls
        stack.extend(type.__subclasses__(cls))


def install(base: type) -> None:
    """Wrap ``base``, its subclasses, and (through ``__init_subclass__``) every later one."""
    original = base.__dict__.get(_INIT_SUBCLASS)

    def __init_subclass__(cls: type, /, **kwargs: Any) -> None:
        if original is not None:
            original.__get__(None, cls)(**kwargs)
        else:
            _super(base, cls).__init_subclass__(**kwargs)
        try:
            patch_class(cls)
        except Exception:
            log_internal_error("diffusers-subclass", "axonize: could not wrap %s", cls)

    setattr(__init_subclass__, _HOOK_MARK, original)
    setattr(base, _INIT_SUBCLASS, classmethod(__init_subclass__))
    patch_class(base)
    for cls in _subclasses(base):
        patch_class(cls)


def remove(base: type) -> None:
    """Undo ``install``: every wrap, on every class (those wrapped later included)."""
    hook = base.__dict__.get(_INIT_SUBCLASS)
    func = getattr(hook, "__func__", None)
    if func is not None and hasattr(func, _HOOK_MARK):
        original = getattr(func, _HOOK_MARK)
        if original is None:
            delattr(base, _INIT_SUBCLASS)
        else:
            setattr(base, _INIT_SUBCLASS, original)
    for cls, names in list(_WRAPPED.items()):
        for name in names:
            unwrap(cls, name)
    _WRAPPED.clear()


def wrapped_classes() -> list[type]:
    """The classes wrapped now (for tests and debugging)."""
    return list(_WRAPPED.keys())
