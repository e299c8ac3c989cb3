"""Every number a lesson's markdown states about real hardware or models has a basis.

A *quantity* is a number with a unit in a markdown cell of ``notebooks/*.ipynb``: a size
(GB, GiB, MiB, TB), a bandwidth (GB/s, TB/s, Gbit/s, GT/s, MT/s), a rate of compute
(TFLOP/s, TOPS), an intensity (FLOP/byte), a speed (tokens/s, s per token), a clock (GHz),
a latency (ns, us, ms), power or energy (W, pJ/bit), a parameter count (7B, 12.9B,
7 billion parameters), a multiplier (410x) or a percentage. Bare byte counts (8 bytes a
float64, 64 bytes a line) are definitions, not claims, and are not collected.

A quantity passes if

(a) **the data holds it**: a row of ``memwall_lab/data/*.csv`` that the same sentence
    names (its name or display name) has a column worth that value -- the column times
    its unit's scale, or a device's ridge point (a peak over its bandwidth) -- to the
    precision the text states; or
(b) **a claim covers it**: ``memwall_lab/data/claims.csv`` has a row for the notebook
    whose ``quote`` (the text as it appears, emphasis and line breaks removed) contains it,
    with either a ``source`` (a URL or an owner/repo path) and the ``value`` the source
    gives (``;`` between several numbers, in the quote's order and unit), or a ``computed``
    Python expression over ``memwall_lab`` evaluated here (a number, or a tuple of them).
    Every row has a ``note`` saying what the number is; a row whose quote has left its
    notebook fails as stale.

Precision: a stated number is good to half a unit of its last significant digit ("3.35"
to 0.005, "300" to 50, "240" to 5); "about", "~", "roughly" and the like widen that to
5 %; "under", "more than" and the like are one-sided bounds, taken exactly.
"""

from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from memwall_lab import (
    edge,
    hardware,
    inference,
    measure,
    models,
    offload,
    paging,
    quantization,
    serving,
    speculative,
)
from memwall_lab.hardware import read_table

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CLAIMS_PATH = ROOT / "memwall_lab" / "data" / "claims.csv"
CLAIM_COLUMNS = ["notebook", "quote", "value", "unit", "source", "computed", "note"]
SOURCE = re.compile(r"^(https?://\S+|[\w.-]+/[\w.-]+ \S+)$")  # as tests/test_data.py


APPROXIMATE = ("about", "~", "≈", "roughly", "some", "around", "nearly", "almost", "near")
AT_MOST = ("under", "below", "less than", "at most", "up to", "within")
AT_LEAST = ("over", "above", "more than", "at least", "beyond")
APPROXIMATE_RELATIVE = 0.05

# ---------------------------------------------------------------- units
# (pattern, dimension, scale to SI). Longest patterns first: the regex takes the first match.
UNITS = [
    (r"tokens per second|tokens/s|tok/s", "token/s", 1.0),
    (r"s per token", "s/token", 1.0),
    (r"PFLOP/s", "FLOP/s", 1e15), (r"TFLOP/s|TFLOPS", "FLOP/s", 1e12),
    (r"GFLOP/s|GFLOPS", "FLOP/s", 1e9), (r"FLOP/s", "FLOP/s", 1.0), (r"TOPS", "OP/s", 1e12),
    (r"(?:(?:bf16|fp16|fp8|fp32|float32|float64) )?FLOPs? (?:per|for every) byte|FLOP/byte",
     "FLOP/byte", 1.0),
    (r"ops per byte", "FLOP/byte", 1.0),
    (r"TB/s", "B/s", 1e12), (r"GB/s", "B/s", 1e9), (r"MB/s", "B/s", 1e6),
    (r"Gbit/s|Gb/s", "bit/s", 1e9),
    (r"GT/s", "transfer/s", 1e9), (r"MT/s", "transfer/s", 1e6),
    (r"billion transfers(?: per second|/s)", "transfer/s", 1e9),
    (r"million transfers(?: per second|/s)", "transfer/s", 1e6),
    (r"TiB", "B", 2.0**40), (r"GiB", "B", 2.0**30), (r"MiB", "B", 2.0**20), (r"KiB", "B", 2.0**10),
    (r"TB", "B", 1e12), (r"GB", "B", 1e9), (r"MB", "B", 1e6), (r"KB", "B", 1e3),
    (r"pJ/bit", "J/bit", 1e-12), (r"GHz", "Hz", 1e9), (r"MHz", "Hz", 1e6),
    (r"ns", "s", 1e-9), (r"µs|us", "s", 1e-6), (r"ms", "s", 1e-3), (r"W", "W", 1.0),
    (r"%", "%", 1.0),
]
# Parameter counts: "7B", "12.9B", "1–8B", "7 billion parameters", "1–8-billion-parameter".
PARAMETERS = [(r"T", 1e12), (r"B", 1e9), (r"M", 1e6)]
PARAMETER_WORDS = [(r"[- ]trillion[- ]param", 1e12), (r"[- ]billion[- ]param", 1e9),
                   (r"[- ]million[- ]param", 1e6)]

NUMBER = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
RANGE = rf"(?P<low>{NUMBER})(?:\s?[–-]\s?(?P<high>{NUMBER}))?"
QUALIFIER = "|".join(re.escape(word) for word in (*APPROXIMATE, *AT_MOST, *AT_LEAST))
START = r"(?<![\w.\-/±])"  # not inside a name such as Llama-3-8B, x16 or v0.1
QUANTITY = re.compile(
    rf"(?:(?P<qualifier>{QUALIFIER})\s?)?{START}{RANGE}(?:"
    rf"(?P<unit>\s?(?:{'|'.join(f'(?:{pattern})' for pattern, _, _ in UNITS)})(?![\w/]))"
    rf"|(?P<times>×)(?![\w\d]| ?\d)"
    rf"|(?P<params>{'|'.join(letter for letter, _ in PARAMETERS)})(?![\w/])"
    rf"|(?P<param_word>{'|'.join(word for word, _ in PARAMETER_WORDS)})"
    rf")",
    re.IGNORECASE,
)
WORD_UNITS = {"token/s", "s/token", "FLOP/byte", "transfer/s"}  # any case; symbols exact


@dataclass(frozen=True)
class Quantity:
    """One number (or range) with its unit, where it stands in a cell's normalised text."""

    text: str
    numbers: tuple[str, ...]  # as written, e.g. ("80", "100") for "80–100 ns"
    unit: str
    dimension: str
    scale: float  # stated value x scale = SI value
    qualifier: str
    start: int
    end: int


def _dimension_of(match: re.Match) -> tuple[str, str, float] | None:
    """(unit as written, dimension, scale) of a QUANTITY match, or None if it is not one."""
    if match.group("times"):
        return "×", "×", 1.0
    if match.group("params"):
        letter = match.group("params")
        if letter != letter.upper():
            return None
        return letter, "parameters", dict(PARAMETERS)[letter]
    if match.group("param_word"):
        word = match.group("param_word").lower()
        for pattern, scale in PARAMETER_WORDS:
            if re.fullmatch(pattern, word):
                return word.strip(" -"), "parameters", scale
    unit = match.group("unit").strip()
    for pattern, dimension, scale in UNITS:
        flags = re.IGNORECASE if dimension in WORD_UNITS else 0
        if re.fullmatch(pattern, unit, flags):
            return unit, dimension, scale
    return None


def find_quantities(text: str) -> list[Quantity]:
    """Every quantity in ``text`` (already normalised with ``normalise``)."""
    found = []
    for match in QUANTITY.finditer(text):
        kind = _dimension_of(match)
        if kind is None:
            continue
        unit, dimension, scale = kind
        numbers = tuple(n for n in (match.group("low"), match.group("high")) if n)
        qualifier = (match.group("qualifier") or "").lower()
        found.append(Quantity(match.group(0).strip(), numbers, unit, dimension, scale,
                              qualifier, match.start(), match.end()))
    return found


# ---------------------------------------------------------------- precision


def last_digit(number: str) -> float:
    """Place value of the last significant digit: '3.35' -> 0.01, '300' -> 100, '240' -> 10."""
    number = number.replace(",", "")
    if "." in number:
        return 10.0 ** -len(number.split(".")[1])
    stripped = number.rstrip("0")
    return 10.0 ** (len(number) - len(stripped)) if stripped else 1.0


def agrees(stated: str, value: float, qualifier: str = "") -> bool:
    """True if ``value`` is what the text means by ``stated`` with ``qualifier`` before it."""
    number = float(stated.replace(",", ""))
    float_slack = 1e-9 * abs(number)
    if qualifier in AT_MOST:
        return value <= number + float_slack
    if qualifier in AT_LEAST:
        return value >= number - float_slack
    tolerance = last_digit(stated) / 2 + float_slack
    if qualifier in APPROXIMATE:
        tolerance = max(tolerance, APPROXIMATE_RELATIVE * abs(number))
    return abs(value - number) <= tolerance


# ---------------------------------------------------------------- notebook text


def normalise(markdown: str) -> str:
    """Markdown as one line: code, maths and link targets dropped, emphasis removed.

    Bullet and table boundaries become ' • ' so sentences do not run across them.
    """
    text = re.sub(r"```.*?```", " ", markdown, flags=re.DOTALL)
    text = re.sub(r"`[^`]*`", " ", text)
    text = re.sub(r"\$\$.*?\$\$|\$[^$]*\$", " ", text, flags=re.DOTALL)
    text = re.sub(r"\]\([^)]*\)", "]", text)
    text = re.sub(r"\n\s*(?:[-*]|\d+\.)\s+|\n\s*\n|\n#+ ", " • ", text)
    text = text.replace("|", " • ")
    text = text.replace("**", "").replace("*", "")
    return re.sub(r"\s+", " ", text).strip()


def markdown_cells(notebook: dict) -> list[str]:
    """The normalised text of every markdown cell of a notebook (JSON)."""
    return [normalise("".join(cell["source"])) for cell in notebook["cells"]
            if cell["cell_type"] == "markdown"]


def read_markdown(path: Path) -> list[str]:
    """The normalised markdown cells of the notebook at ``path``."""
    return markdown_cells(json.loads(path.read_text(encoding="utf-8")))


def sentence_around(text: str, start: int, end: int) -> str:
    """The sentence (or bullet, or table cell) of ``text`` holding [start, end)."""
    boundaries = [0] + [m.end() for m in re.finditer(r"(?<=[.!?;])\s+(?=[A-Z(\[•])| • ", text)]
    begin = max(b for b in boundaries if b <= start)
    after = [b for b in boundaries if b >= end]
    return text[begin:min(after) if after else len(text)]


# ---------------------------------------------------------------- (a) values the data holds


@dataclass(frozen=True)
class DataValue:
    """One sourced number of memwall_lab/data, in SI units, with the names of its row."""

    table: str
    row: str
    column: str
    dimension: str
    si_value: float
    aliases: tuple[str, ...]


def _alias_key(text: str) -> str:
    """Lower case, hyphens and spaces alike: 'NVIDIA H100-SXM' ~ 'nvidia h100 sxm'."""
    return re.sub(r"[\s\-_]+", " ", text.lower()).strip()


def aliases(*names: str, vendor: str = "", tokens: bool = False) -> tuple[str, ...]:
    """Names a sentence may use for a row: its names, without the vendor, and (for hardware,
    ``tokens``) the model-number tokens ('h100', 'm2', 'mi300x', 'pcie4' also as 'pcie 4')."""
    found = set()
    for name in names:
        key = _alias_key(re.sub(r"\([^)]*\)", " ", name))  # 'Raspberry Pi 5 (8 GB)'
        if not key:
            continue
        found.add(key)
        if vendor and key.startswith(vendor.lower() + " "):
            found.add(key[len(vendor) + 1:])
        for token in key.split(" ") if tokens else ():
            if re.fullmatch(r"x\d+|\d+gb", token):  # a lane count or a size names no part
                continue
            split = re.fullmatch(r"([a-z]+)(\d+)", token)
            if split:
                letters, digits = split.groups()
                found.update({token, f"{letters} {digits}", f"{letters} {digits}.0"})
            elif re.search(r"[a-z]", token) and re.search(r"\d", token):
                found.add(token)
    return tuple(sorted(found))


def _float(text: str) -> float | None:
    return float(text) if text and text.strip() else None


def data_values() -> list[DataValue]:
    """Every sourced number in the data tables that a sentence could state."""
    values = []

    def add(table, row, column, dimension, value, names):
        if value is not None:
            values.append(DataValue(table, row, column, dimension, value, names))

    for table in ("accelerators.csv", "devices.csv"):
        for row in read_table(table):
            names = aliases(row["name"], row["display_name"], vendor=row["vendor"], tokens=True)
            bandwidth = _float(row["bandwidth_gb_per_s"]) * 1e9
            add(table, row["name"], "capacity_gb", "B", _float(row["capacity_gb"]) * 1e9, names)
            add(table, row["name"], "bandwidth_gb_per_s", "B/s", bandwidth, names)
            for column in ("fp32_tflops", "bf16_tflops", "fp16_tflops", "fp8_tflops", "int8_tops"):
                peak = _float(row[column])
                if peak is not None:
                    dimension = "OP/s" if column == "int8_tops" else "FLOP/s"
                    add(table, row["name"], column, dimension, peak * 1e12, names)
                    add(table, row["name"], f"{column} / bandwidth", "FLOP/byte",
                        peak * 1e12 / bandwidth, names)
            link = _float(row["interconnect_gb_per_s"])
            add(table, row["name"], "interconnect_gb_per_s", "B/s", link and link * 1e9, names)
            add(table, row["name"], "tdp_w", "W", _float(row["tdp_w"]), names)
    for row in read_table("memory_tech.csv"):
        names = aliases(row["name"], tokens=True)
        rate = _float(row["per_pin_gbit_per_s"]) * 1e9
        add("memory_tech.csv", row["name"], "per_pin_gbit_per_s", "bit/s", rate, names)
        add("memory_tech.csv", row["name"], "per_pin_gbit_per_s", "transfer/s", rate, names)
        add("memory_tech.csv", row["name"], "bandwidth_gb_per_s", "B/s",
            _float(row["bandwidth_gb_per_s"]) * 1e9, names)
        add("memory_tech.csv", row["name"], "capacity_gb", "B",
            _float(row["capacity_gb"]) * 1e9, names)
        energy = _float(row.get("energy_pj_per_bit", ""))
        add("memory_tech.csv", row["name"], "energy_pj_per_bit", "J/bit",
            energy and energy * 1e-12, names)
    for row in read_table("links.csv"):
        names = aliases(row["name"], tokens=True)
        rate = _float(row["lane_rate_gbit_per_s"]) * 1e9
        add("links.csv", row["name"], "lane_rate_gbit_per_s", "bit/s", rate, names)
        add("links.csv", row["name"], "lane_rate_gbit_per_s", "transfer/s", rate, names)
        for column in ("bandwidth_gb_per_s", "bidirectional_gb_per_s"):
            value = _float(row[column])
            add("links.csv", row["name"], column, "B/s", value and value * 1e9, names)
    history_units = {"FLOP/s": "FLOP/s", "B/s": "B/s", "bit/s per lane": "bit/s",
                     "parameters": "parameters", "B": "B"}
    for row in read_table("history.csv"):
        if row["unit"] in history_units:
            add("history.csv", f"{row['series']}: {row['name']}", "value",
                history_units[row["unit"]], float(row["value"]), aliases(row["name"]))
    for row in read_table("models.csv"):
        names = aliases(row["name"], row["display_name"])
        for column in ("published_params", "published_active_params"):
            add("models.csv", row["name"], column, "parameters", _float(row[column]), names)
    return values


def _names_row(sentence: str, names: tuple[str, ...]) -> bool:
    key = _alias_key(sentence)
    return any(re.search(rf"(?<![a-z0-9.]){re.escape(name)}s?(?![a-z0-9])", key) for name in names)


def held_by_data(quantity: Quantity, sentence: str, values: list[DataValue]) -> DataValue | None:
    """The data value named in ``sentence`` that every stated number agrees with, if any."""
    if quantity.dimension in ("×", "%"):
        return None
    for stated in quantity.numbers:
        match = next((value for value in values
                      if value.dimension == quantity.dimension
                      and agrees(stated, value.si_value / quantity.scale, quantity.qualifier)
                      and _names_row(sentence, value.aliases)), None)
        if match is None:
            return None
    return match


# ---------------------------------------------------------------- (b) claims.csv


@dataclass(frozen=True)
class Claim:
    """One row of claims.csv."""

    notebook: str
    quote: str
    value: str
    unit: str
    source: str
    computed: str
    note: str
    line: int


def read_claims(path: Path = CLAIMS_PATH) -> list[Claim]:
    """The rows of claims.csv, each with its line number for messages."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == CLAIM_COLUMNS, reader.fieldnames
        return [Claim(**{key: (row[key] or "").strip() for key in CLAIM_COLUMNS},
                      line=index + 2) for index, row in enumerate(reader)]


def history_value(series: str, name: str) -> float:
    """The value of the point called ``name`` in history series ``series`` (SI units)."""
    return next(point.value for point in hardware.history(series) if point.name == name)


EXPRESSION_NAMES = {"edge": edge, "hardware": hardware, "measure": measure, "models": models,
                    "offload": offload, "math": math, "np": np, "history_value": history_value,
                    "inference": inference, "quantization": quantization,
                    "speculative": speculative, "serving": serving, "paging": paging}


def claimed_values(claim: Claim) -> tuple[float, ...]:
    """The values a claim gives: evaluated from ``computed``, else parsed from ``value``."""
    if claim.computed:
        result = eval(claim.computed, dict(EXPRESSION_NAMES))  # noqa: S307 -- the repo's own data
        result = result if isinstance(result, (tuple, list)) else (result,)
        return tuple(float(item) for item in result)
    return tuple(float(item) for item in claim.value.split(";"))


def claim_problems(claim: Claim, cells: list[str]) -> list[str]:
    """What is wrong with one claim against its notebook's cells (empty when it holds)."""
    where = f"claims.csv line {claim.line} ({claim.notebook}: {claim.quote!r})"
    if bool(claim.source) == bool(claim.computed):
        return [f"{where}: give exactly one of source and computed"]
    if claim.source and not SOURCE.match(claim.source):
        return [f"{where}: source must be a URL or 'owner/repo path'"]
    if bool(claim.source) != bool(claim.value):
        return [f"{where}: a sourced claim gives the value its source states; a computed one "
                f"leaves value empty"]
    if not claim.note:
        return [f"{where}: say in the note what the number is and where it comes from"]
    holding = [cell for cell in cells if claim.quote in cell]
    if not holding:
        return [f"{where}: the quote is no longer in the notebook (a stale row)"]
    quantities = find_quantities(claim.quote)
    stated = [(number, q.qualifier) for q in quantities for number in q.numbers]
    if not stated:
        return [f"{where}: the quote holds no quantity"]
    try:
        values = claimed_values(claim)
    except Exception as error:  # noqa: BLE001 -- report any failing expression as a problem
        return [f"{where}: {claim.computed or claim.value!r} does not evaluate: {error!r}"]
    if len(values) != len(stated):
        return [f"{where}: {len(stated)} numbers quoted but {len(values)} values given"]
    return [f"{where}: the text says {number} {claim.unit}, the "
            f"{'computation' if claim.computed else 'source'} gives {value:.6g}"
            for (number, qualifier), value in zip(stated, values)
            if not agrees(number, value, qualifier)]


def unsupported(cells: list[str], claims: list[Claim], values: list[DataValue]) -> list[str]:
    """Quantities in ``cells`` that neither a claim's quote nor a named data row covers."""
    problems = []
    for index, text in enumerate(cells):
        covered = []
        for claim in claims:
            start = text.find(claim.quote)
            while start >= 0:
                covered.append((start, start + len(claim.quote)))
                start = text.find(claim.quote, start + 1)
        for quantity in find_quantities(text):
            if any(begin <= quantity.start and quantity.end <= end for begin, end in covered):
                continue
            sentence = sentence_around(text, quantity.start, quantity.end)
            if held_by_data(quantity, sentence, values) is None:
                problems.append(f"markdown cell {index}: {quantity.text!r} in: {sentence}")
    return problems


# ---------------------------------------------------------------- the tests


@pytest.fixture(scope="module")
def claims():
    return read_claims()


@pytest.fixture(scope="module")
def values():
    return data_values()


def test_every_lesson_is_checked():
    assert len(NOTEBOOKS) >= 8


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_every_number_in_the_lesson_has_a_basis(path, claims, values):
    cells = read_markdown(path)
    mine = [claim for claim in claims if claim.notebook == path.stem]
    problems = [problem for claim in mine for problem in claim_problems(claim, cells)]
    problems += unsupported(cells, mine, values)
    assert not problems, (
        f"{path.name}: numbers without a basis. Name the data row in the sentence, or add a row "
        f"to memwall_lab/data/claims.csv with a source or a computed expression:\n  "
        + "\n  ".join(problems))


def test_claims_name_existing_notebooks_and_are_unique(claims):
    stems = {path.stem for path in NOTEBOOKS}
    for claim in claims:
        assert claim.notebook in stems, f"claims.csv line {claim.line}: no {claim.notebook}"
    keys = [(claim.notebook, claim.quote) for claim in claims]
    assert len(keys) == len(set(keys)), "a quote is claimed twice"


def test_every_claim_is_still_quoted(claims):
    by_notebook = {path.stem: read_markdown(path) for path in NOTEBOOKS}
    stale = [f"line {claim.line}: {claim.notebook}: {claim.quote!r}" for claim in claims
             if not any(claim.quote in cell for cell in by_notebook.get(claim.notebook, []))]
    assert not stale, "claims.csv rows no longer quoted in their notebook:\n" + "\n".join(stale)


# ---- the check bites: synthetic cells


def _cells(*markdown: str) -> list[str]:
    return [normalise(text) for text in markdown]


def _claim(quote, value="", source="", computed="", unit=""):
    return Claim("99_synthetic", quote, value, unit, source, computed, "synthetic", line=0)


def test_an_unsourced_number_fails(values):
    cells = _cells("An H100 streams **7.7 TB/s** from its HBM.")
    problems = unsupported(cells, [], values)
    assert len(problems) == 1 and "'7.7 TB/s'" in problems[0]


def test_a_number_the_data_holds_passes_only_where_its_row_is_named(values):
    assert unsupported(_cells("An H100 streams 3.35 TB/s from its HBM."), [], values) == []
    assert unsupported(_cells("A B200 streams 8 TB/s; Llama-2-7B has 6.74B parameters."),
                       [], values) == []
    assert len(unsupported(_cells("A phone streams 3.35 TB/s."), [], values)) == 1
    assert len(unsupported(_cells("An H100 streams 3.5 TB/s."), [], values)) == 1


def test_a_claim_covers_its_quote_and_is_checked(values):
    cells = _cells("Peak compute grew about 60,000× in twenty years.")
    sourced = _claim("about 60,000×", value="60000", source="https://arxiv.org/abs/2403.14123")
    assert unsupported(cells, [sourced], values) == []
    assert claim_problems(sourced, cells) == []
    wrong = _claim("about 60,000×", value="6000", source="https://arxiv.org/abs/2403.14123")
    assert "gives 6000" in claim_problems(wrong, cells)[0]
    computed = _claim("about 60,000×", computed="3 * 20_000")
    assert claim_problems(computed, cells) == []
    off = _claim("about 60,000×", computed="hardware.get('h100-sxm').bandwidth_bytes_per_s")
    assert "computation gives" in claim_problems(off, cells)[0]
    stale = _claim("about 70,000×", value="70000", source="https://arxiv.org/abs/2403.14123")
    assert "stale" in claim_problems(stale, cells)[0]
    both = _claim("about 60,000×", value="60000", source="https://x.org/a", computed="60000")
    assert "exactly one" in claim_problems(both, cells)[0]


def test_quantities_are_read_with_their_units():
    text = normalise("An **H100** (3.35 TB/s, ~990 TFLOP/s) needs 80–100 ns; Llama-3-8B has "
                     "8.03B, Mixtral-8x7B 12.9B of 46.7B; 7 billion parameters; 410× and "
                     "60 %; `64 B ÷ latency`; PCIe 4.0 x16; a 64 × 64 GEMM; 4× the cache.")
    found = {(q.numbers, q.dimension) for q in find_quantities(text)}
    assert found == {(("3.35",), "B/s"), (("990",), "FLOP/s"), (("80", "100"), "s"),
                     (("8.03",), "parameters"), (("12.9",), "parameters"),
                     (("46.7",), "parameters"), (("7",), "parameters"), (("410",), "×"),
                     (("60",), "%"), (("4",), "×")}


def test_precision_follows_the_stated_digits():
    assert agrees("3.35", 3.354) and not agrees("3.35", 3.356)
    assert agrees("300", 295.2) and agrees("240", 244.9) and not agrees("240", 245.1)
    assert agrees("240", 250, "about") and not agrees("240", 260, "about")
    assert agrees("30", 29.4, "under") and not agrees("30", 31, "under")
    assert agrees("12", 13.5, "more than") and not agrees("12", 11, "more than")
    assert last_digit("60,000") == 10_000 and last_digit("0.5") == 0.1 and last_digit("7") == 1
