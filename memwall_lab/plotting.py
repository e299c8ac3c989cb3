"""The one place that sets figure style for every lesson (lesson 00 onwards)."""

import matplotlib

STYLE = {
    "figure.figsize": (7.0, 4.2),
    "figure.dpi": 100,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "legend.fontsize": 9,
    "legend.frameon": False,
}


def use_course_style() -> None:
    """Apply the course's matplotlib rcParams (idempotent)."""
    matplotlib.rcParams.update(STYLE)


def caption(fig, text: str) -> None:
    """Put a one-line caption under a figure: what the student should notice."""
    fig.text(0.01, -0.02, text, ha="left", va="top", fontsize=9, style="italic", wrap=True)
