"""Progress for long measurements: a widget in a notebook, a text bar in a terminal."""

from __future__ import annotations

import sys


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
    return bool(shell) and type(shell).__name__ == "ZMQInteractiveShell"


class Progress:
    """Count `total` steps of a measurement called `label`; silent when `enabled` is False."""

    def __init__(self, total: int, label: str, enabled: bool = True):
        self.total, self.label, self.done = max(int(total), 1), label, 0
        self._widget = None
        self._terminal = enabled and not _in_notebook() and sys.stderr.isatty()
        if enabled and _in_notebook():
            self._widget = _make_widget(self.total, label)

    def step(self, note: str = "") -> None:
        """Record one finished step; `note` says what was just measured."""
        self.done += 1
        if self._widget is not None:
            self._widget.value = self.done
            self._widget.description = f"{self.label} {self.done}/{self.total}"
        elif self._terminal:
            filled = int(30 * self.done / self.total)
            bar = "#" * filled + "." * (30 - filled)
            sys.stderr.write(f"\r{self.label:<22} [{bar}] {self.done}/{self.total} {note:<16}")
            sys.stderr.flush()

    def close(self) -> None:
        """Finish the bar (the widget is hidden, the terminal line ended)."""
        if self._widget is not None:
            self._widget.close()
        elif self._terminal:
            sys.stderr.write("\n")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _make_widget(total: int, label: str):
    try:
        import ipywidgets
        from IPython.display import display
    except ImportError:
        return None
    widget = ipywidgets.IntProgress(min=0, max=total, description=label)
    display(widget)
    return widget
