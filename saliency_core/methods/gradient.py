"""Vanilla gradient (Simonyan, Vedaldi & Zisserman 2014): d class score / d input."""

from __future__ import annotations

from .base import Method, MethodContext, NoOptions, register_method


@register_method
class Gradient(Method):
    name = "gradient"
    kind = "attribution"
    summary = "d score / d input, the vanilla gradient map"
    reference = "Simonyan, Vedaldi & Zisserman, ICLR workshop 2014 (arXiv:1312.6034)"
    default_check = True
    primary = True

    def attribute(self, ctx: MethodContext, opts: NoOptions):
        return ctx.clean
