"""The dashboards' shell (memwall_lab/dashboard.py): coalesced, coherent updates, no browser.

The browser test (test_browser.py) checks what a student sees in JupyterLab; these
check the rules underneath with the kernel's event loop played by asyncio.
"""

import asyncio
import math
import re

import ipywidgets as widgets
import matplotlib.pyplot as plt
import pytest

from memwall_lab import dashboard, units
from memwall_lab import widgets as lessons


def _counting_dashboard(figure_for=None):
    """A dashboard over one slider whose compute() counts its calls."""
    slider = widgets.IntSlider(value=0, min=0, max=100, description="n")
    calls = []

    def compute():
        calls.append(slider.value)
        if slider.value == 13:
            raise ValueError("13 is not a point")
        if slider.value == 66:
            raise RuntimeError("broken")
        figure = figure_for(slider.value) if figure_for else None
        return f"n is {slider.value}", figure

    box = dashboard.dashboard([[slider]], compute)
    return box, slider, calls


def _figure(value):
    figure, axes = plt.subplots(figsize=(3, 2))
    axes.plot([0, 1], [0, value])
    return figure


def _status(box) -> str:
    return re.search(r"data-status='([^']*)'", box.children[-2].value).group(1)


def test_without_an_event_loop_each_change_updates_at_once():
    box, slider, calls = _counting_dashboard(_figure)
    readout, picture = box.children[-2], box.children[-1]
    assert "n is 0" in readout.value and _status(box) == "ready"
    first = bytes(picture.value)
    slider.value = 5
    assert "n is 5" in readout.value and bytes(picture.value) != first
    assert picture.tooltip == "plot of: n 5"
    assert calls == [0, 5]


def test_changes_that_arrive_together_are_computed_once():
    async def scenario():
        box, slider, calls = _counting_dashboard(_figure)
        for value in range(1, 11):  # ten changes before the loop runs again: a fast drag
            slider.value = value
        assert _status(box) == "updating…"  # marked at once: readout and plot dimmed
        dimmed = f".{box.dashboard.plot_class}{{opacity:.45}}"
        assert dimmed in box.children[-2].value and "n is 0" in box.children[-2].value
        await asyncio.sleep(0)  # the readout comes first ...
        assert "n is 10" in box.children[-2].value and _status(box) == "drawing the plot…"
        assert box.children[-1].tooltip == "plot of: n 0"  # ... the plot still the old one
        await asyncio.sleep(0)
        assert _status(box) == "ready" and box.children[-1].tooltip == "plot of: n 10"
        assert dimmed not in box.children[-2].value
        return calls

    assert asyncio.run(scenario()) == [0, 10]


def test_a_change_during_an_update_keeps_the_mark_until_its_own_update():
    async def scenario():
        box, slider, calls = _counting_dashboard(_figure)
        slider.value = 1
        await asyncio.sleep(0)  # readout of 1 shown, plot of 1 not yet drawn
        slider.value = 2  # the plot of 1 is skipped: the plot of 2 comes right after
        for _ in range(4):
            await asyncio.sleep(0)
        assert _status(box) == "ready" and box.children[-1].tooltip == "plot of: n 2"
        return calls

    assert asyncio.run(scenario()) == [0, 1, 2]


def test_errors_are_shown_in_the_readout_and_hide_the_plot():
    box, slider, _ = _counting_dashboard(_figure)
    slider.value = 13
    assert "cannot compute this point: 13 is not a point" in box.children[-2].value
    assert box.children[-1].layout.display == "none" and _status(box) == "error"
    slider.value = 66
    assert "the dashboard failed: RuntimeError: broken" in box.children[-2].value
    slider.value = 7
    assert box.children[-1].layout.display is None and _status(box) == "ready"


def test_a_figure_updated_in_place_is_kept_and_pyplot_forgets_every_figure():
    figure, axes = plt.subplots()
    (line,) = axes.plot([0, 1], [0, 0])

    def same_figure(value):
        line.set_ydata([0, value])
        return figure

    before = set(plt.get_fignums())
    box, slider, _ = _counting_dashboard(same_figure)
    slider.value = 3
    assert list(line.get_ydata()) == [0, 3] and figure.axes == [axes]
    _counting_dashboard(_figure)[1].value = 4  # a new figure each time
    assert set(plt.get_fignums()) <= before  # none left for the inline backend to show


def test_readout_wraps_at_words_under_each_lines_indent():
    html = dashboard.readout_html("first line\n    an indented <line>\n")
    assert "white-space:pre-wrap;word-break:normal;overflow-wrap:break-word" in html
    assert "padding-left:6ch;text-indent:-6ch'>    an indented &lt;line&gt;" in html
    assert "data-status='ready'" in html and "memwall-status" not in html
    drawing = dashboard.readout_html("text", dashboard.DRAWING, "plot-7")
    assert "drawing the plot…</span>" in drawing and ".plot-7{opacity:.45}" in drawing


def test_controls_are_wide_enough_for_their_labels():
    slider = widgets.SelectionSlider(options=["1", "1,048,576"], description="context (tokens)")
    picker = widgets.Dropdown(options=["0: copy all (plain data parallel)"], description="ZeRO")
    box = widgets.Checkbox(description="offload to host (ZeRO-Offload)")
    for control in (slider, picker, box):
        dashboard.fit_control(control)
        assert control.style.description_width == "initial"
    assert int(slider.layout.width[:-2]) >= 7.5 * (len("context (tokens)") + len("1,048,576"))
    assert int(picker.layout.width[:-2]) >= 7.5 * len("0: copy all (plain data parallel)")
    assert int(box.layout.width[:-2]) >= 7.5 * len("offload to host (ZeRO-Offload)")


def test_settings_name_what_each_control_shows():
    assert dashboard.setting(widgets.Dropdown(options=[("as published", "p")],
                                              description="attention")) == "attention as published"
    assert dashboard.setting(widgets.Checkbox(value=True, description="offload")) == "offload on"
    assert dashboard.setting(widgets.IntSlider(value=4096, max=10**6, description="n")) == (
        "n 4,096")
    assert dashboard.setting(widgets.IntSlider(description="n", disabled=True)) is None


def test_a_caption_below_the_figure_is_given_room_inside_it():
    figure, axes = plt.subplots(figsize=(4, 3), dpi=100)
    caption = figure.text(0.01, -0.02, "a caption under the axes " * 4, va="top", wrap=True)
    box = axes.get_position()
    png = dashboard.figure_png(figure)
    height = int.from_bytes(png[20:24], "big")  # the PNG header's height field
    assert png.startswith(b"\x89PNG") and height > 300 + 2 * 9 * 100 / 72  # two lines' room
    assert 0 < caption.get_position()[1] < 1  # inside the figure now
    moved = axes.get_position()  # the axes kept their size in inches
    assert moved.height * height == pytest.approx(box.height * 300, rel=0.01)
    dashboard.figure_png(figure)
    assert int.from_bytes(dashboard.figure_png(figure)[20:24], "big") == height  # once only
    plain, _ = plt.subplots(figsize=(4, 3), dpi=100)
    assert int.from_bytes(dashboard.figure_png(plain)[20:24], "big") == 300
    plt.close("all")


@pytest.mark.parametrize(("value", "text"), [
    (1234567, "1,234,567"), (6.7384, "6.74"), (0.012345, "0.0123"), (10000.0, "10,000"),
    (9.996, "10"), (0, "0"), (-2.5, "-2.5")])
def test_format_number_has_separators_and_no_e_notation(value, text):
    assert units.format_number(value) == text


def test_long_durations_have_separators_not_e_notation():
    assert units.format_seconds(7000) == "7,000 s"
    assert units.format_seconds(999.4) == "999 s"


def test_one_token_answers_plot_no_time_per_token_at_all():
    reading = lessons.disaggregation_reading(4096, 1, "pcie5-x16")
    plot = lessons.DisaggregationPlot()
    plot.update(reading)
    assert plot.not_applicable.get_visible()
    assert not any(per_token.get_visible() for _, per_token in plot.series)
    assert "no time per output token (n/a)" in lessons.disaggregation_caption(reading)
    plot.update(lessons.disaggregation_reading(4096, 16, "pcie5-x16"))
    assert not plot.not_applicable.get_visible()
    for _, per_token in plot.series:
        assert all(math.isnan(y) or y > 0 for y in per_token.get_ydata())  # never a zero
    plt.close(plot.figure)
