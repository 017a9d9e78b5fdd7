"""Tools that stand beside training: gradient checking and, later, explanation and saving."""

from .gradcheck import gradcheck, gradgradcheck

__all__ = ["gradcheck", "gradgradcheck"]
