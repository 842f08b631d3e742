"""`charnn info` of a folder of runs (a line each) and of a run's step files: the checkpoints there are to compare."""

from __future__ import annotations

import contextlib
import math
import shlex
from pathlib import Path

from charnn.errors import CharnnError


def step_files(folder: Path) -> list[tuple[str, str]]:
    """The run's step checkpoints, by step (a teacher wanted an early one to show progress, and found them by `ls`)."""
    steps = sorted(int(file.stem[5:]) for file in folder.glob("step-*.pt") if file.stem[5:].isdecimal())
    if not steps:
        return []
    shown = ", ".join(f"{step:,}" for step in steps) if len(steps) <= 6 else (
        ", ".join(f"{step:,}" for step in steps[:3]) + ", …, " + ", ".join(f"{step:,}" for step in steps[-3:]))
    which = "the first" if len(steps) > 1 else "it"  # a trial read "steps 143: … samples the first"
    first = shlex.quote(str(folder / f"step-{steps[0]:08d}.pt"))  # to be pasted: a trial's path had spaces
    return [("step files", f"step{'s' * (len(steps) > 1)} {shown}: --checkpoint {first} "
                           f"samples {which} (--keep N keeps N, --eval-every N saves every N steps)")]


def list_runs(parent: Path, folders: list[Path]) -> None:
    """A line per run in `parent`: its model, corpus, steps, best validation loss (nats) and training time (its
    latest.pt's, where it has one: the whole run's; else its best.pt's). Named within `parent`, the folder given,
    and no unit in a cell: with paths and units a line took 102 columns, and a teacher's 80 broke each in two."""
    from charnn import runs, ui

    def readable(folder: Path) -> tuple[Path, dict]:  # a corrupt latest.pt: its best.pt, as `info RUN` reads it
        files = [folder / name for name in ("latest.pt", "best.pt") if (folder / name).exists()]
        for file in files[:-1]:
            with contextlib.suppress(CharnnError):
                return file, runs.read_checkpoint(file)  # without torch where it can
        file = files[-1] if files else folder / "best.pt"
        return file, runs.read_checkpoint(file)

    rows = [(f"{parent}/".replace("//", "/"), "model", "params", "trained on", "step", "best val", "time")]
    stopped = []  # runs stopped (Ctrl-C) before their target, by the latest.pt read for the table
    for folder in folders:
        try:
            file, payload = readable(folder)
            if file.name == "latest.pt" and runs.stopped_short(folder, payload):
                stopped.append(folder.name)
            config, metrics = payload["model_config"], payload.get("metrics", {})
            best = metrics.get("best_val_loss", math.nan)
            rows.append((folder.name, f"{config['num_layers']}×{config['hidden_size']} {config['cell'].upper()}",
                         f"{sum(math.prod(weight.shape) for weight in payload['model'].values()) / 1e6:.2f}M",
                         ui.file_name_in(str(payload.get("corpus", "?")), 15), f"{payload['step']:,}",
                         f"{best:.4f}" if math.isfinite(best) else "–", ui.duration(metrics.get("elapsed", 0))))
        except (CharnnError, KeyError, TypeError, AttributeError) as problem:
            rows.append((folder.name, f"not readable: {str(problem).partition(' — ')[0]}"))
    ui.show_table(rows)
    if stopped:  # a trial read a run stopped at 14 s of its 40 s as a finished one: a column would break 80 columns
        ui.info(f"stopped (Ctrl-C or a signal) before their target: {', '.join(stopped)} — --resume goes on")
