"""Input times gradient (Shrikumar et al. 2016), in the gradient's input space."""

from __future__ import annotations

from .base import Method, MethodContext, NoOptions, register_method


@register_method
class GradientXInput(Method):
    name = "gradient_x_input"
    kind = "attribution"
    summary = "input times gradient"
    reference = "Shrikumar, Greenside, Shcherbina & Kundaje 2016 (arXiv:1605.01713)"

    def attribute(self, ctx: MethodContext, opts: NoOptions):
        return ctx.clean * ctx.images
