"""The experiment specs as frozen dataclasses: ``specs/protocol.toml`` (rows, schedules, gaze-loss recipes, with
their table labels) and one
``specs/<dataset>.toml`` per dataset (data, split, budgets, chosen values with the sweep that chose each, sweeps,
reference numbers with their source, the campaign of its table). Read with the standard library's ``tomllib``;
every problem is one line that names the file and the key: ``kvasir.toml, [budgets]: expected an integer, got
'81'``."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

SPECS = Path(__file__).resolve().parent / "specs"
DATASETS = ("kvasir", "acdc", "camus", "scr")


class SpecError(ValueError):
    """A spec file that cannot be used, in one line: file, key, what was expected, what was found."""


@dataclass(frozen=True)
class Row:
    name: str
    label: str
    args: tuple[str, ...]
    gaze: bool = False  # gets --gaze-dir (the dataset's store)
    gaze_loss: bool = False  # gets the gaze-loss levels, weight and recipe
    masks: str = "budget"  # budget | all (the upper bound) | none (gaze only: labeled 0)
    batch: str = "schedule"  # schedule | labeled (--batch-size = the schedule's --labeled-bs)


@dataclass(frozen=True)
class Schedule:
    name: str
    iterations: int
    pretrain_divisor: int
    val_divisor: int
    options: tuple[str, ...]
    precision: str  # cpu | gpu
    lr: str  # chosen | default
    size: int | None = None
    device: str | None = None
    label: str = ""  # the tables' label; {iterations}: the run's, {bf16}: ", bf16" when bf16 ran
    label_partial: str = ""  # the label of a row of this very schedule stopped before its iterations


@dataclass(frozen=True)
class ChosenRow:
    """A row of the tables that no command trains as such: row ``of`` at the gaze-loss recipe and weight chosen on
    validation; it stands right after ``of`` in the tables."""

    name: str
    of: str
    setting: str  # names a gaze-loss setting of ``of``: {recipe} (the recipe's label), {weight}
    label: str  # the row's label: {setting}, the chosen setting's name
    before_sweep: str  # the row's label while no sweep has chosen a setting

    def setting_label(self, recipe_label: str, weight: str) -> str:
        return self.setting.format(recipe=recipe_label, weight=weight)

    def chosen_label(self, recipe_label: str, weight: str) -> str:
        return self.label.format(setting=self.setting_label(recipe_label, weight))


@dataclass(frozen=True)
class Protocol:
    rows: dict[str, Row]
    schedules: dict[str, Schedule]
    recipes: dict[str, tuple[str, ...]]  # name -> the `hgdtgl train` options of the gaze-loss recipe
    recipe_labels: dict[str, str] = field(default_factory=dict)  # name -> how the tables name the recipe
    chosen_rows: dict[str, ChosenRow] = field(default_factory=dict)


@dataclass(frozen=True)
class Chosen:
    """A value chosen on validation, with the file of the sweep that chose it (``none`` when fixed by hand)."""

    name: str
    value: Any
    sweep: str
    how: str = ""
    unit: str = ""
    recipe: str = ""
    schedule: str = ""  # the base schedule it was chosen on and applies to (empty: every schedule)


@dataclass(frozen=True)
class Reference:
    """A published number the tables print beside a row, with its source."""

    key: str  # a row name or "gaze_only"
    dice: float
    source: str
    note: str = ""

    def cell(self) -> str:
        return f"{self.dice:.2f}" + (f" ({self.note})" if self.note else "")


@dataclass(frozen=True)
class Sweep:
    name: str  # lr | gaze_scales | gaze_loss_weight
    row: str
    schedule: str
    values: tuple[Any, ...]
    confirm_seeds: tuple[int, ...] = ()


@dataclass(frozen=True)
class Step:
    """One step of a dataset's campaign: rows x seeds at one budget and schedule."""

    schedule: str
    budget: str
    rows: tuple[str, ...]
    seeds: tuple[int, ...]
    export: bool = False


@dataclass(frozen=True)
class Dataset:
    name: str
    title: str
    folder: str
    format: str  # images | ssl4mis
    n_train: int
    classes: tuple[str, ...]  # empty: binary
    gaze: str
    store: str
    default_budget: str
    budgets: dict[str, int]
    split: dict[str, Any]
    chosen: dict[str, Chosen]
    sweeps: dict[str, Sweep]
    references: dict[str, Reference]
    campaign: tuple[Step, ...]
    splits: str | None = None  # split lists folder (None: the dataset's own lists, ACDC)
    foreground: str = ""  # what the one class of a binary set is (Kvasir: polyp); empty for multi-class sets
    tables: dict[str, str] = field(default_factory=dict)
    gaze_recipe: dict[str, Any] = field(default_factory=dict)  # [gaze]: how the store is made

    @property
    def labeled(self) -> int:
        """The default label budget (labeled images / patients)."""
        return self.budgets[self.default_budget]

    def chosen_value(self, name: str, default: Any = None, schedule: str = "") -> Any:
        """The chosen value ``name`` (``default`` when none, or when it was chosen for another base schedule)."""
        c = self.chosen.get(name)
        if c is None or (schedule and c.schedule and c.schedule != schedule):
            return default
        return c.value


def _read(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise SpecError(f"{path}: no such spec file") from None
    except tomllib.TOMLDecodeError as e:
        raise SpecError(f"{path.name}: not valid TOML: {e}") from None


class _Table:
    """A TOML table read with typed, one-line errors (``file, [table]: key 'x' ...``)."""

    def __init__(self, file: str, where: str, data: Any):
        if not isinstance(data, dict):
            raise SpecError(f"{file}, [{where}]: expected a table, got {data!r}")
        self.file, self.where, self.data = file, where, data

    def _err(self, key: str, what: str) -> SpecError:
        return SpecError(f"{self.file}, [{self.where}]: key {key!r}: {what}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        if key not in self.data:
            if default is ...:
                raise self._err(key, "missing")
            return default
        value = self.data[key]
        if isinstance(value, bool) and kind is not bool and bool not in (kind if isinstance(kind, tuple) else ()):
            raise self._err(key, f"expected {_kind(kind)}, got {value!r}")
        if not isinstance(value, kind):
            raise self._err(key, f"expected {_kind(kind)}, got {value!r}")
        return value

    def strings(self, key: str, default: Any = ...) -> tuple[str, ...]:
        value = self.get(key, list, default)
        if not all(isinstance(v, str) for v in value):
            raise self._err(key, f"expected a list of strings, got {value!r}")
        return tuple(value)

    def ints(self, key: str, default: Any = ...) -> tuple[int, ...]:
        value = self.get(key, list, default)
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise self._err(key, f"expected a list of integers, got {value!r}")
        return tuple(value)

    def choice(self, key: str, options: tuple[str, ...], default: Any = ...) -> str:
        value = self.get(key, str, default)
        if value not in options:
            raise self._err(key, f"expected one of {', '.join(options)}, got {value!r}")
        return value

    def table(self, key: str, default: Any = ...) -> _Table:
        return _Table(self.file, f"{self.where}.{key}" if self.where else key, self.get(key, dict, default))

    def unknown(self, known: set[str]) -> None:
        extra = sorted(set(self.data) - known)
        if extra:
            raise self._err(extra[0], f"unknown key; expected one of {', '.join(sorted(known))}")


def _kind(kind: type | tuple[type, ...]) -> str:
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false", list: "a list"}
    names |= {dict: "a table"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


@cache
def protocol(path: Path = SPECS / "protocol.toml") -> Protocol:
    """The rows, schedules and gaze-loss recipes shared by every dataset."""
    top = _Table(path.name, "", _read(path))
    rows = {}
    for name in top.get("rows", dict):
        t = top.table("rows").table(name)
        t.unknown({"label", "args", "gaze", "gaze_loss", "masks", "batch"})
        rows[name] = Row(
            name=name,
            label=t.get("label", str),
            args=t.strings("args"),
            gaze=t.get("gaze", bool, False),
            gaze_loss=t.get("gaze_loss", bool, False),
            masks=t.choice("masks", ("budget", "all", "none"), "budget"),
            batch=t.choice("batch", ("schedule", "labeled"), "schedule"),
        )
    schedules = {}
    for name in top.get("schedules", dict):
        t = top.table("schedules").table(name)
        t.unknown({"iterations", "pretrain_divisor", "val_divisor", "options", "precision", "lr", "size", "device",
                   "label", "label_partial"})  # fmt: skip
        schedules[name] = Schedule(
            name=name,
            iterations=t.get("iterations", int),
            pretrain_divisor=t.get("pretrain_divisor", int),
            val_divisor=t.get("val_divisor", int),
            options=t.strings("options"),
            precision=t.choice("precision", ("cpu", "gpu")),
            lr=t.choice("lr", ("chosen", "default")),
            size=t.get("size", int, None),
            device=t.get("device", str, None),
            label=_template(t, "label", {"iterations": 1, "bf16": ""}, name),
            label_partial=t.get("label_partial", str, name),
        )
    recipes_t = top.table("recipes")
    recipes, recipe_labels = {}, {}
    for name in recipes_t.data:
        t = recipes_t.table(name)
        t.unknown({"label", "args"})
        recipes[name], recipe_labels[name] = t.strings("args"), t.get("label", str)
    if "published" not in recipes:
        raise SpecError(f"{path.name}, [recipes]: key 'published': missing")
    chosen_rows = {}
    for name in top.get("chosen_rows", dict, {}):
        t = top.table("chosen_rows").table(name)
        t.unknown({"of", "setting", "label", "before_sweep"})
        of = t.get("of", str)
        if of not in rows or name in rows:
            what = f"'of' {of!r} is not a row of [rows]" if of not in rows else "is also a row of [rows]"
            raise SpecError(f"{path.name}, [chosen_rows.{name}]: {what}")
        chosen_rows[name] = ChosenRow(
            name=name,
            of=of,
            setting=_template(t, "setting", {"recipe": "", "weight": ""}),
            label=_template(t, "label", {"setting": ""}),
            before_sweep=t.get("before_sweep", str),
        )
    return Protocol(rows, schedules, recipes, recipe_labels, chosen_rows)


def _template(t: _Table, key: str, fields: dict[str, Any], default: Any = ...) -> str:
    """A label with {placeholders}, checked against the ``fields`` it is filled with."""
    text = t.get(key, str, default)
    try:
        text.format(**fields)
    except (KeyError, IndexError, ValueError) as e:
        raise t._err(key, f"{text!r}: expected only the placeholders {{{'}, {'.join(fields)}}}, got {e}") from None
    return text


_DATASET_KEYS = {"dataset", "split", "budgets", "chosen", "sweeps", "references", "tables", "campaign", "gaze"}


@cache
def load(name: str, specs: Path = SPECS) -> Dataset:
    """The spec of dataset ``name`` (``specs/<name>.toml``), checked against the protocol's rows and schedules."""
    path = specs / f"{name}.toml"
    if not path.is_file():
        known = sorted(p.stem for p in specs.glob("*.toml") if p.stem != "protocol")
        raise SpecError(f"{name}: no spec {path.name}; expected one of {', '.join(known)}")
    top = _Table(path.name, "", _read(path))
    top.unknown(_DATASET_KEYS)
    proto = protocol(specs / "protocol.toml") if specs != SPECS else protocol()
    d = top.table("dataset")
    d.unknown(
        {"title", "folder", "format", "splits", "n_train", "classes", "foreground", "gaze", "store", "default_budget"}
    )
    b = top.table("budgets")
    budgets = {k: b.get(k, int) for k in b.data}
    default_budget = d.get("default_budget", str)
    if default_budget not in budgets:
        raise SpecError(f"{path.name}, [dataset]: default_budget {default_budget!r} is not a key of [budgets]")
    chosen = {}
    c = top.table("chosen", {})
    for key in c.data:
        t = c.table(key)
        t.unknown({"value", "sweep", "how", "unit", "recipe", "schedule"})
        chosen[key] = Chosen(
            name=key,
            value=t.get("value", (int, float, str)),
            sweep=t.get("sweep", str),
            how=t.get("how", str, ""),
            unit=t.get("unit", str, ""),
            recipe=t.get("recipe", str, ""),
            schedule=t.get("schedule", str, ""),
        )
        if chosen[key].recipe and chosen[key].recipe not in proto.recipes:
            raise SpecError(f"{path.name}, [chosen.{key}]: recipe {chosen[key].recipe!r} is not in protocol.toml")
    sweeps = {}
    s = top.table("sweeps", {})
    for key in s.data:
        t = s.table(key)
        t.unknown({"row", "schedule", "values", "confirm_seeds"})
        sweeps[key] = Sweep(
            name=key,
            row=_row(path.name, f"sweeps.{key}", t.get("row", str), proto),
            schedule=_schedule(path.name, f"sweeps.{key}", t.get("schedule", str), proto),
            values=tuple(t.get("values", list)),
            confirm_seeds=t.ints("confirm_seeds", []),
        )
    refs = {}
    r = top.table("references", {})
    for key in r.data:
        t = r.table(key)
        t.unknown({"dice", "source", "note"})
        refs[key] = Reference(key, float(t.get("dice", (int, float))), t.get("source", str), t.get("note", str, ""))
    steps = []
    for i, raw in enumerate(top.get("campaign", list, [])):
        t = _Table(path.name, f"campaign {i + 1}", raw)
        t.unknown({"schedule", "budget", "rows", "seeds", "export"})
        budget = t.get("budget", str)
        if budget not in budgets:
            raise SpecError(f"{path.name}, [campaign {i + 1}]: budget {budget!r} is not a key of [budgets]")
        steps.append(
            Step(
                schedule=_schedule(path.name, f"campaign {i + 1}", t.get("schedule", str), proto),
                budget=budget,
                rows=tuple(_row(path.name, f"campaign {i + 1}", x, proto) for x in t.strings("rows")),
                seeds=t.ints("seeds"),
                export=t.get("export", bool, False),
            )
        )
    tables = top.table("tables", {})
    g = top.table("gaze", {})
    g.unknown({"fixations", "render", "sigma_candidates", "script"})
    gaze_recipe = {"render": g.strings("render", [])}
    gaze_recipe |= {k: g.get(k, str) for k in ("fixations", "script") if k in g.data}
    if "sigma_candidates" in g.data:
        gaze_recipe["sigma_candidates"] = g.get("sigma_candidates", list)
    if "fixations" in g.data and ("sigma_candidates" not in g.data or "sigma" not in chosen):
        raise SpecError(f"{path.name}, [gaze]: real gaze (fixations) needs sigma_candidates and a [chosen.sigma]")
    return Dataset(
        name=name,
        title=d.get("title", str),
        folder=d.get("folder", str),
        format=d.choice("format", ("images", "ssl4mis")),
        n_train=d.get("n_train", int),
        classes=d.strings("classes"),
        gaze=d.get("gaze", str),
        foreground=d.get("foreground", str, ""),
        store=d.get("store", str),
        default_budget=default_budget,
        budgets=budgets,
        split=dict(top.get("split", dict)),
        chosen=chosen,
        sweeps=sweeps,
        references=refs,
        campaign=tuple(steps),
        splits=d.get("splits", str, None),
        tables={k: tables.get(k, str) for k in tables.data},
        gaze_recipe=gaze_recipe,
    )


def _row(file: str, where: str, name: str, proto: Protocol) -> str:
    if name not in proto.rows:
        raise SpecError(f"{file}, [{where}]: unknown row {name!r}; expected one of {', '.join(proto.rows)}")
    return name


def _schedule(file: str, where: str, name: str, proto: Protocol) -> str:
    try:
        parse_schedule(name, proto)
    except SpecError as e:
        raise SpecError(f"{file}, [{where}]: {e}") from None
    return name


def parse_schedule(name: str, proto: Protocol | None = None) -> tuple[str, int | None, str]:
    """(base schedule, iterations or None for the base's own, precision ``bf16``/``none``) of a schedule name:
    ``cpu``, ``cpu-12000``, ``cpu-12000-bf16``, ``cpu-bf16``, ``gpu``."""
    proto = proto or protocol()
    forms = [f"{b}, {b}-<iterations>, {b}[-<iterations>]-bf16" if s.precision == "cpu" else b
             for b, s in proto.schedules.items()]  # fmt: skip
    unknown = SpecError(f"schedule {name!r}: unknown; expected {' or '.join(forms)}")
    parts = name.split("-")
    base, rest = parts[0], parts[1:]
    if base not in proto.schedules:
        raise unknown
    cpu = proto.schedules[base].precision == "cpu"
    amp = "none"
    if rest and rest[-1] == "bf16" and cpu:
        amp, rest = "bf16", rest[:-1]
    iters = None
    if rest and rest[0].isdigit() and int(rest[0]) > 0 and cpu:
        iters, rest = int(rest[0]), rest[1:]
    if rest:
        raise unknown
    return base, iters, amp


def all_datasets() -> dict[str, Dataset]:
    return {name: load(name) for name in DATASETS}


def row_labels() -> dict[str, str]:
    """Row name -> its table label, in the tables' order: the rows of [rows], each row of [chosen_rows] right after
    the row it is chosen from (labelled as before a sweep)."""
    proto = protocol()
    out = {}
    for name, row in proto.rows.items():
        out[name] = row.label
        out |= {c.name: c.before_sweep for c in proto.chosen_rows.values() if c.of == name}
    return out
