"""The shell every lesson's dashboard runs in (lesson 03 onwards): controls, a readout, a plot.

``dashboard(rows, compute)`` wires rows of ipywidgets controls to a readout (an
``HTML`` widget) and a plot (an ``Image`` widget holding a PNG). ``compute()``
reads the controls and returns ``(text, figure)``: plain text for the readout
and a matplotlib figure, or None when there is nothing to draw. The figure may
be a new one each time or the same one updated in place (cheaper: its ticks and
text sizes are kept); ``figure`` may also be a function of no arguments that
returns it, so the readout is shown before the figure is even built.

What the student sees after moving a control:

1. at once, a yellow *updating…* mark, the readout and the plot dimmed;
2. the new readout, with *drawing the plot…*, as soon as ``compute()`` returns;
3. the new plot, and the mark cleared.

So the readout and the plot never show different settings without a mark
saying so, and the plot's hover text names the settings it was drawn for. A
change only *asks* for an update: one update is scheduled on the kernel's event
loop, and changes that arrive before it runs fold into it; a plot whose settings
were overtaken while it waited is skipped if one was shown in the last 0.25 s.
(ipywidgets itself sends a dragged slider's latest position only once the kernel
has handled the previous one.) Without a running event loop (plain Python,
tests) updates run at once.
"""

from __future__ import annotations

import asyncio
import html
import io
import math
import textwrap
import time

UPDATING, DRAWING, READY, FAILED = "updating…", "drawing the plot…", "", "error"
PLOT_REFRESH_S = 0.25  # while controls keep moving, still show a plot at least this often
CHAR_PX = 7.5  # width of one character of a control's label in JupyterLab's 13 px UI font
STYLE = ("<style>.memwall-stale{opacity:.45}"
         ".memwall-line{white-space:pre-wrap;word-break:normal;overflow-wrap:break-word}</style>")


def readout_html(text: str, status: str = READY, plot_class: str = "") -> str:
    """The readout: each line wraps at word boundaries under its own indent, plus a status mark.

    Lines keep their leading spaces and columns (monospace); a line too long for
    the window continues two characters further in, never split inside a word.
    While an update is under way the readout also dims the plot (the element of
    class ``plot_class``), so one message marks both stale and one clears both.
    """
    lines = []
    for line in text.splitlines() or [""]:
        indent = len(line) - len(line.lstrip(" ")) + 2
        body = html.escape(line) if line.strip() else "&nbsp;"
        lines.append(f"<div class='memwall-line' style='padding-left:{indent}ch;"
                     f"text-indent:-{indent}ch'>{body}</div>")
    stale = " class='memwall-stale'" if status == UPDATING else ""
    dim_plot = (f"<style>.{plot_class}{{opacity:.45}}</style>"
                if plot_class and status in (UPDATING, DRAWING) else "")
    mark = "" if status in (READY, FAILED) else (
        "<span class='memwall-status' style='position:absolute;top:0;right:0;padding:1px 8px;"
        f"border-radius:4px;background:#fff3bf;color:#5c4400;font-family:sans-serif'>{status}"
        "</span>")
    return (f"{STYLE}{dim_plot}<div class='memwall-readout' data-status='{status or 'ready'}' "
            "style='position:relative;min-height:1.5em;font-family:var(--jp-code-font-family,"
            "monospace);font-size:var(--jp-code-font-size,13px);line-height:1.45'>"
            f"<div{stale}>{''.join(lines)}</div>{mark}</div>")


def figure_png(figure, canvas=None) -> bytes:
    """The figure as PNG bytes, drawn with Agg: on ``canvas`` if given, else its own.

    One canvas for every figure of a dashboard keeps its renderer, and with it
    matplotlib's cache of text sizes: a new figure each time draws a third faster.
    A caption placed under the figure's edge (``plotting.caption``) is first given
    room inside it, once per figure (``make_room_below``), so the figure is drawn
    as laid out: one draw, where cropping to what it draws would cost two.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    make_room_below(figure)
    if canvas is None:
        canvas = figure.canvas
        if not isinstance(canvas, FigureCanvasAgg):
            canvas = FigureCanvasAgg(figure)
    elif canvas.figure is not figure:
        canvas.figure = figure
        figure.set_canvas(canvas)
    buffer = io.BytesIO()
    canvas.print_png(buffer, pil_kwargs={"compress_level": 1})
    return buffer.getvalue()


def make_room_below(figure) -> None:
    """Grow a figure at the bottom so the texts placed under its edge lie inside it.

    Everything keeps its size in inches and moves up by the room the lowest text
    needs (its wrapped lines estimated from its length). Once per figure.
    """
    if getattr(figure, "_memwall_room_below", False):
        return
    figure._memwall_room_below = True
    height, width_px = figure.get_figheight(), figure.get_figwidth() * figure.dpi
    room = 0.0
    for text in figure.texts:
        x, y = text.get_position()
        if y >= 0:
            continue
        size_px = text.get_fontsize() * figure.dpi / 72
        lines = text.get_text().count("\n") + 1
        if text.get_wrap():
            line_px = max(width_px * (1 - x) - 2 * size_px, size_px)
            lines = max(lines, math.ceil(len(text.get_text()) * 0.58 * size_px / line_px))
        room = max(room, -y * height + lines * 1.3 * text.get_fontsize() / 72 + 0.1)
    if room == 0:
        return
    total = height + room
    for axes in figure.axes:
        box = axes.get_position()
        axes.set_position([box.x0, (box.y0 * height + room) / total, box.width,
                           box.height * height / total])
    for text in figure.texts:
        x, y = text.get_position()
        text.set_position((x, (y * height + room) / total))
    figure.set_figheight(total)


def framed_figure(width_in: float, height_in: float, columns: int = 1, *, left: float = 0.9,
                  right: float = 0.3, top: float = 0.45, bottom: float = 1.15,
                  gap: float = 1.0):
    """A pyplot figure laid out once, for updating in place: (figure, axes list, caption).

    Margins are in inches, so tick labels keep their room whatever the numbers;
    the caption (empty until set) sits inside the figure's bottom edge and wraps,
    two lines at most in ``bottom``'s room below the x-axis label.
    """
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, columns, figsize=(width_in, height_in), squeeze=False)
    axes_width = (width_in - left - right - (columns - 1) * gap) / columns
    figure.subplots_adjust(left=left / width_in, right=1 - right / width_in,
                           top=1 - top / height_in, bottom=bottom / height_in,
                           wspace=gap / axes_width)
    caption = figure.text(0.012, 0.015, "", ha="left", va="bottom", fontsize=9,
                          style="italic")
    return figure, list(axes[0]), caption


def set_caption(caption, text: str) -> None:
    """Set a ``framed_figure`` caption, wrapped at words to the figure's width.

    Wrapped here by an estimate of the characters that fit (9 pt italic), which is
    far cheaper on every redraw than matplotlib measuring each word.
    """
    width_px = caption.figure.get_figwidth() * caption.figure.dpi
    caption.set_text(textwrap.fill(text, width=max(40, int(width_px / 7.4))))


def fix_layout(axes, title: str = "") -> None:
    """Pin an axes' title and axis labels in place, so a redraw need not place them again.

    Without this, every draw measures every tick label to place the labels and
    the title: a third of the time of redrawing a log-log plot. Minor ticks of
    log axes go too (the grid follows the major ones).
    """
    from matplotlib.ticker import NullLocator

    figure = axes.figure
    box = axes.get_position()
    height_in = box.height * figure.get_figheight()
    width_in = box.width * figure.get_figwidth()
    axes.xaxis.set_label_coords(0.5, -0.36 / height_in)
    axes.yaxis.set_label_coords(-0.62 / width_in, 0.5)
    axes.set_title(title, y=1.0 + 0.08 / height_in)
    for axis in (axes.xaxis, axes.yaxis):
        if axis.get_scale() == "log":
            axis.set_minor_locator(NullLocator())


def setting(control) -> str | None:
    """'batch (sequences) 64': a control's label and the value it shows; None if disabled."""
    if getattr(control, "disabled", False):
        return None
    labels, index = getattr(control, "_options_labels", None), getattr(control, "index", None)
    if labels and isinstance(index, int):  # a selection widget shows its option's label
        label = str(labels[index])
    else:
        value = control.value
        if isinstance(value, bool):
            label = "on" if value else "off"
        elif isinstance(value, int):
            label = f"{value:,}"
        elif isinstance(value, float):
            label = f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"
        else:
            label = str(value)
    description = getattr(control, "description", "")
    return f"{description} {label}".strip()


def fit_control(control) -> None:
    """Widen a control so its label, options and value are never cut (300 px at least)."""
    import ipywidgets as widgets

    style = getattr(control, "style", None)
    if style is not None and hasattr(style, "description_width"):
        style.description_width = "initial"
    if control.layout.width is not None or isinstance(control, widgets.ToggleButtons):
        return
    label_px = CHAR_PX * len(getattr(control, "description", "")) + 12
    labels = [str(label) for label in getattr(control, "_options_labels", ())]
    longest_px = CHAR_PX * max(map(len, labels), default=6)
    if isinstance(control, widgets.Checkbox):
        wanted = label_px + 40
    elif isinstance(control, (widgets.Dropdown, widgets.Select)):
        wanted = label_px + longest_px + 40
    else:  # a slider: a track of at least 160 px and room for its value
        wanted = label_px + 160 + max(longest_px, CHAR_PX * 7) + 16
    control.layout.width = f"{max(300, round(wanted))}px"


def _plot_image(**options):
    """An ``ipywidgets.Image`` for PNGs whose hover text (``tooltip``) works.

    The front end reads a widget's ``description`` before it sets the hover
    text, and ``Image`` has none: this one carries an empty description.
    """
    import ipywidgets as widgets
    import traitlets

    class PlotImage(widgets.Image):
        description = traitlets.Unicode("").tag(sync=True)

    return PlotImage(format="png", **options)


def _running_loop():
    """The kernel's asyncio loop when called from it (a widget's message), else None."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class Dashboard:
    """Controls, a readout and a plot kept coherent (see the module docstring)."""

    def __init__(self, rows, compute):
        import ipywidgets as widgets

        self.compute = compute
        self.controls = [control for row in rows for control in row]
        self.readout = widgets.HTML(layout=widgets.Layout(width="100%"))
        self.picture = _plot_image(layout=widgets.Layout(  # its own size, or narrower
            max_width="100%", height="auto", align_self="flex-start"))
        self.plot_class = f"memwall-plot-{self.picture.model_id}"
        self.picture.add_class(self.plot_class)  # the readout dims it by this name
        for control in self.controls:
            fit_control(control)
        self.box = widgets.VBox([
            *(widgets.HBox(list(row), layout=widgets.Layout(flex_flow="row wrap"))
              for row in rows),
            self.readout, self.picture], layout=widgets.Layout(width="100%"))
        self.text = ""
        self.canvas = None  # one Agg canvas draws every figure: see figure_png
        self.wanted = 0  # update requests made (one per change of a control)
        self.scheduled = False
        self.plot_shown_at = 0.0
        self.computations = self.plots = 0  # compute() runs and plots drawn (coalescing)
        for control in self.controls:
            control.observe(self.request, names="value")
        self.update_now()

    # ---- what a change does
    def request(self, _change=None) -> None:
        """A control changed: mark everything stale now, compute once the loop is free."""
        self.wanted += 1
        loop = _running_loop()
        if loop is None:
            self.update_now()
            return
        if not self.scheduled:
            self.scheduled = True
            self._show_text(self.text, UPDATING)
            loop.call_soon(self._update_text, loop)

    def update_now(self) -> None:
        """Compute and show the controls' current point, readout then plot, before returning."""
        computed = self._compute_text(self.wanted)
        if computed is not None:
            self._update_plot(self.wanted, *computed, force=True)

    # ---- the two halves of one update
    def _update_text(self, loop) -> None:
        self.scheduled = False
        generation = self.wanted
        computed = self._compute_text(generation)
        if computed is not None:
            loop.call_soon(self._update_plot, generation, *computed)

    def _compute_text(self, generation: int):
        """Run compute() and show its text; returns (figure to draw, settings), or None."""
        self.computations += 1
        try:
            text, figure = self.compute()
        except ValueError as error:  # a point the model cannot compute: say why
            self._show_failure(f"cannot compute this point: {error}")
            return None
        except Exception as error:  # noqa: BLE001 -- a broken dashboard says so, never hangs
            self._show_failure(f"the dashboard failed: {type(error).__name__}: {error}")
            return None
        self.text = text
        if figure is None:
            self.picture.layout.display = "none"
            self._show_text(text, READY if generation == self.wanted else UPDATING)
            return None
        self._show_text(text, DRAWING)
        # the settings this point was computed for, read now: the plot's hover text
        return figure, "; ".join(filter(None, map(setting, self.controls)))

    def _update_plot(self, generation: int, figure, settings: str, force: bool = False) -> None:
        """Draw the figure into the picture, unless newer settings want a plot soon anyway."""
        stale = generation != self.wanted
        if stale and not force and time.monotonic() - self.plot_shown_at < PLOT_REFRESH_S:
            _forget(figure)
            return  # the update already scheduled draws the newer settings
        try:
            if callable(figure):
                figure = figure()
            if self.canvas is None:
                from matplotlib.backends.backend_agg import FigureCanvasAgg

                self.canvas = FigureCanvasAgg(figure)
            png = figure_png(figure, self.canvas)
        except Exception as error:  # noqa: BLE001
            self._show_failure(f"the plot failed: {type(error).__name__}: {error}")
            return
        finally:
            _forget(figure)
        with self.picture.hold_sync():  # one message: the picture and what it shows
            self.picture.value = png
            self.picture.tooltip = f"plot of: {settings}"
            self.picture.layout.display = None
        self.plot_shown_at, self.plots = time.monotonic(), self.plots + 1
        self._show_text(self.text, UPDATING if stale or self.scheduled else READY)

    # ---- helpers
    def _show_text(self, text: str, status: str) -> None:
        self.readout.value = readout_html(text, status, self.plot_class)

    def _show_failure(self, message: str) -> None:
        self.text = message
        self.picture.layout.display = "none"  # the last plot belongs to another point
        self._show_text(message, FAILED)


def _forget(figure) -> None:
    """Let pyplot forget a figure: drawn here, never again by the inline backend.

    The figure itself lives on while its dashboard holds it, to be updated in place.
    """
    import matplotlib.pyplot as plt

    if figure is not None and not callable(figure):
        plt.close(figure)


def dashboard(rows, compute):
    """Wire rows of controls to a readout and a plot; display and return the box (VBox).

    ``rows`` is a list of lists of controls; ``compute()`` reads them and returns
    (text, figure or None, or a function returning the figure), or raises
    ValueError for a point it cannot compute, which the readout then shows. The
    box's children are the rows (HBox), the readout (HTML) and the plot (Image);
    the ``Dashboard`` behind it is ``box.dashboard``.
    """
    from IPython.display import display

    shell = Dashboard(rows, compute)
    shell.box.dashboard = shell
    display(shell.box)
    return shell.box
