"""`charnn train`: options → a run plan, the training view, Ctrl-C and SIGTERM → a saved, resumable stop."""

from __future__ import annotations

import difflib
import shlex
import signal
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated

import typer

from charnn.cli import command
from charnn.cli.command import (
    DEVICES,
    Flag,
    Positive,
    end_ctrl_c_line,
    fail,
    interrupted,
    load_announced,
    resolve_device,
    set_threads,
)
from charnn.cli.options import (
    check_dropout,
    check_encoding,
    check_nonnegative,
    check_positive,
    check_seed,
    parse_duration,
    text_file,
)
from charnn.cli.train_checks import check_resume, check_time_left, open_run_folder
from charnn.cli.train_stop import StopFlag
from charnn.config import ACCELERATOR_BATCH_SIZE, CELLS, ModelConfig, TrainConfig
from charnn.errors import CharnnError

# Validation characters the training text never has, as a share of the split, that are said: at ~15 nats each (a
# model's surprise at a character it never saw) they add ≥ 0.03 nats to the val loss.
UNSEEN_SHARE = 0.002

M, T = ModelConfig, TrainConfig


def train(
    corpus: Annotated[Path, typer.Argument(help="Text file to learn from (UTF-8, or give --encoding).",
                                           metavar="CORPUS", parser=text_file)],
    steps: Annotated[int | None, typer.Option(help="Optimizer steps (default: a 10m budget).", **Positive)] = None,
    time_budget: Annotated[str | None, typer.Option("--time", help="Wall-clock budget, with its unit: 90s, 10m, "
                                                                   "1h30m.")] = None,
    out: Annotated[Path | None, typer.Option(help="Run folder (default checkpoints/<corpus name>, or <corpus "
                                                  "name>-2, -3, … when that holds a run).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in the run folder from its latest.pt "
                                                             "(without --out: the newest run of this corpus).",
                                         **Flag)] = False,
    cell: Annotated[str | None, typer.Option(help=f"Recurrent cell: {', '.join(CELLS)} \\[default: {M.cell}]. Without "
                                                  "size flags each is sized by its own speed (a GRU trains slower than "
                                                  "an LSTM of its size on a CPU): to compare cells alone, give "
                                                  "--layers, --hidden-size and --steps.")] = None,
    layers: Annotated[int | None, typer.Option(help="Stacked recurrent layers \\[default: preset].",
                                               **Positive)] = None,
    hidden_size: Annotated[int | None, typer.Option(help="Units per layer \\[default: preset].", **Positive)] = None,
    embed_dim: Annotated[int | None, typer.Option(help=f"Character embedding size \\[default: {M.embed_dim}].",
                                                  **Positive)] = None,
    dropout: Annotated[float | None, typer.Option(help="Fraction of each layer's outputs zeroed at random in "
                                                       "training, against learning the text by heart; in \\[0, 1) "
                                                       "\\[default: preset].", callback=check_dropout)] = None,
    weight_dropout: Annotated[float | None, typer.Option(help="Fraction of the recurrent weights zeroed at random "
                                                              "each step (DropConnect), against the same; in \\[0, 1) "
                                                              "\\[default: preset].", callback=check_dropout)] = None,
    seq_len: Annotated[int | None, typer.Option(help=f"Characters per window: how far back a step's gradients "
                                                     f"reach (truncated BPTT; the state carries on past it) "
                                                     f"\\[default: {T.seq_len}, less for tiny corpora].",
                                                **Positive)] = None,
    batch_size: Annotated[int | None, typer.Option(help=f"Parallel streams per step \\[default: {T.batch_size} on "
                                                        f"CPU, {ACCELERATOR_BATCH_SIZE} on GPU; less for tiny "
                                                        "corpora].", **Positive)] = None,
    lr: Annotated[float | None, typer.Option(help=f"Peak learning rate \\[default: {T.lr}].",
                                             callback=check_positive)] = None,
    weight_decay: Annotated[float | None, typer.Option(help=f"AdamW weight decay on weight matrices \\[default: "
                                                            f"{T.weight_decay}].", callback=check_nonnegative)] = None,
    eval_every: Annotated[int | None, typer.Option(help="Steps between evals + checkpoints \\[default: about 8 "
                                                        "per run, fewer where they would take over 5% of a "
                                                        "short budget; a --time run evals as often by the "
                                                        "clock instead].", **Positive)] = None,
    keep: Annotated[int | None, typer.Option(help=f"step-NNNNNNNN.pt checkpoints to keep \\[default: "
                                                  f"{T.keep_checkpoints}].", min=0)] = None,
    seed: Annotated[int | None, typer.Option(help=f"Seed for initialisation, dropout and data order \\[default: "
                                                  f"{T.seed}]. The same run again takes --steps too (and --threads): "
                                                  "a --time run trains as many steps as the clock allows, and "
                                                  "sizes its model by a speed test.", callback=check_seed)] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or mps.")] = "auto",
    threads: Annotated[int | None, typer.Option(help="CPU threads \\[default: one a core, or fewer while fewer "
                                                     "train faster: beside another busy program, threads on every "
                                                     "core wait for each other].", **Positive)] = None,
    precision: Annotated[str, typer.Option(help="auto, fp32 or bf16 (auto: bf16 where it is native and timed "
                                                "faster).")] = "auto",
    encoding: Annotated[str, typer.Option(help="Text encoding of the corpus.", callback=check_encoding)] = "utf-8",
    errors: Annotated[str, typer.Option(help="Bad bytes: strict (stop) or replace.")] = "strict",
    keep_crlf: Annotated[bool, typer.Option("--keep-crlf", help="Keep CRLF line endings instead of LF.",
                                            **Flag)] = False,
):
    """Train a model on CORPUS, showing progress and saving checkpoints as it goes.

    With --resume, every size/optimizer flag not given is taken from the run's latest.pt, and so is \
the target (--steps/--time) when neither is given.
    """
    cell = cell.lower() if cell is not None else None  # `--cell LSTM`, as the start line and README write it
    if cell is not None and cell not in CELLS:
        near = difflib.get_close_matches(cell, CELLS, n=1)  # a trial's --cell lsmt
        raise typer.BadParameter(f"must be one of {', '.join(CELLS)}" + (f" (did you mean {near[0]}?)" if near else ""),
                                 param_hint="'--cell'")
    if device not in DEVICES:
        raise typer.BadParameter(f"must be one of {', '.join(DEVICES)}", param_hint="'--device'")
    if precision not in ("auto", "fp32", "bf16"):
        raise typer.BadParameter("must be auto, fp32 or bf16", param_hint="'--precision'")
    if errors not in ("strict", "replace"):
        raise typer.BadParameter("must be strict or replace", param_hint="'--errors'")
    budget = parse_duration(time_budget) if time_budget is not None else None
    run_dir = out

    from charnn import ui
    from charnn.data import ReadOptions, check_corpus_path
    from charnn.encodings import misread_note
    from charnn.run_lock import check_can_make
    from charnn.vocab import listed

    stop, sized = StopFlag(), None  # sized: the model, once planned (what a lack of memory is said of)
    try:
        check_corpus_path(corpus)  # before torch loads (~2 s): a mistyped name is told at once
        from charnn.planning import DEFAULT_BUDGET, plan_run
        from charnn.train import train as run_training

        torch_device = resolve_device(device)
        most_threads = set_threads(threads, torch_device)
        if not resume:  # without --out: checkpoints/<corpus name>, or -2, -3 … where that holds a run (a review)
            check_can_make(run_dir or Path("checkpoints"))
        reading = time.monotonic()
        data = load_announced(corpus, ReadOptions(encoding, errors, keep_crlf))
        if not resume:  # a resumed run's budget is its own, and its corpus is read from the cache
            now = time.monotonic()
            check_time_left(corpus, now - reading, now - command.STARTED_AT,
                            budget if budget is not None or steps is not None else DEFAULT_BUDGET)
        note = misread_note(corpus, encoding, data.vocab.chars)  # read without an error, yet in the wrong encoding
        if note:
            ui.info(note)
        if errors == "replace" and "\ufffd" in data.vocab.index:  # said: a trial's chapter went to � without a word
            replaced = data.count("\ufffd")
            ui.info(f"--errors replace: {corpus} holds {replaced:,} U+FFFD (�) characters for bytes "
                    f"that were not {encoding} (and any the file had): the model learns them as text")
        if not resume:  # before anything about run folders or sizes is said (train() checks a resume's own split)
            data.check_trainable(T.val_fraction)
        # The run folder's lock is taken now and held through training: before the preset's speed test, which would
        # slow a run training there, and before a second `charnn train` of the corpus could choose the same folder.
        # Ctrl-C and SIGTERM ask to stop from here on, so that a folder made here is removed again (a SIGTERM during
        # the preset killed the process and left it, a review).
        stop.setting_up = True
        with stop.installed(), ExitStack() as held:
            run_dir, lock = open_run_folder(run_dir, corpus, resume, held)
            given = dict(cell=cell, num_layers=layers, hidden_size=hidden_size, embed_dim=embed_dim, dropout=dropout,
                         weight_dropout=weight_dropout, batch_size=batch_size, seq_len=seq_len, lr=lr,
                         weight_decay=weight_decay, eval_every=eval_every, keep_checkpoints=keep, seed=seed)
            plan = plan_run(data, run_dir if resume else None, given, steps, budget, torch_device, precision,
                            spent=time.monotonic() - command.STARTED_AT)
            sized = (f"a {plan.model_config.num_layers}×{plan.model_config.hidden_size} "
                     f"{plan.model_config.cell.upper()}")
            if plan.preset_reason:
                ui.info(f"model size from the preset: {plan.preset_reason} (--layers/--hidden-size to choose)")
            if plan.dropout_reason:
                ui.info(plan.dropout_reason)
            if plan.precision_reason:
                ui.info(f"precision {plan.precision_reason}")
            if resume:  # here too: a refusal came under an empty training panel (a trial's resume past its target)
                check_resume(data, plan, run_dir)
            view = ui.TrainView()
            # The reader of its lines gone (`2>&1 | head -3`): stop after the step and save, as for SIGTERM, with
            # SIGPIPE's exit code (it ended the run at once, exit 1, with nothing saved).
            view.on_reader_left = lambda: stop.is_set() or stop.handle(signal.SIGPIPE, None)
            unseen = data.only_in_validation(plan.config.val_fraction)
            # A trial's code base, its CJK and emoji joined last, was told that it overfit. Said where they are many
            # enough to count: 2 quotes in the bundled screenplay's 4,577 are not (a review).
            if sum(unseen.values()) >= UNSEEN_SHARE * len(data.split(plan.config.val_fraction)[1]):
                view.unlearnable, most_first = sum(unseen.values()), sorted(unseen, key=lambda char: -unseen[char])
                ui.info(f"the validation text (the last {plan.config.val_fraction:.0%}) has {view.unlearnable:,} "
                        f"characters the training text never has ({listed(most_first)}): "
                        "no model learns them, so the val loss counts them against it — put some of that text "
                        "earlier in the file (e.g. join its parts in another order)")
            stop.training, stop.view = (lambda: view.started is not None), view
            if stop.signal == signal.SIGTERM:  # during set-up, before there was a view to tell
                view.stopped_by = "terminated"
            stop.setting_up = False
            with view:
                run_training(data, run_dir, plan.model_config, plan.config, torch_device, view, resume, stop.is_set,
                             command.STARTED_AT, most_threads, lock)  # STARTED_AT read now: a test sets it
    except CharnnError as problem:
        fail(str(problem))
    except (MemoryError, RuntimeError) as problem:  # torch's "can't allocate memory", CUDA's "out of memory"
        if not isinstance(problem, MemoryError) and "alloc" not in str(problem) and "out of memory" not in str(problem):
            raise
        # A trial's `--hidden-size 100000` (a zero too many) was a traceback: 160 GB for its weights.
        fail(f"not enough memory to train {sized or 'this model'} — choose a smaller --hidden-size or --layers (or "
             "--batch-size), or leave them out for the preset's size")
    except KeyboardInterrupt:  # a second Ctrl-C, or one before training began: no save now
        if stop.signal is None:  # (a second Ctrl-C comes under the training panel, where keys are not echoed)
            end_ctrl_c_line()
        saved = run_dir is not None and (run_dir / "latest.pt").exists()
        when = "at once" if stop.signal is not None else "before training began"
        # Named and exited as the signal that ended it: a trial's second SIGTERM said `interrupted`, exit 130.
        word, code = ("terminated", 143) if stop.last == signal.SIGTERM else ("interrupted", 130)
        interrupted(f"{word} {when}; {run_dir / 'latest.pt'} holds the last save (continue with --resume)"
                    if saved else f"{word} {when}; nothing was saved", code)
    if stop.signal is not None:
        # Before a step was trained, nothing was saved: a new run has no latest.pt (the view said so), a resumed one
        # is as it was.
        trained = view.finished is not None and view.finished.steps_trained > 0
        if view.finished is not None and view.finished.reason in ("steps", "time"):
            # The stop came during the last step or its eval: the run is through, and a --resume would be refused
            # as at its target (a trial was told to resume, then told that).
            ui.info(f"stopped as the run reached its target: it is complete in {run_dir}")
        elif (run_dir / "latest.pt").exists():
            ui.info(f"stopped; {'latest checkpoint saved in ' if trained else 'the run is unchanged in '}"
                    f"{run_dir / 'latest.pt'} — continue with: charnn train {shlex.quote(str(corpus))} --out "
                    f"{shlex.quote(str(run_dir))} --resume"  # quoted: a trial's corpus had spaces in its name
                    # The same threads add in the same order: a trial's resume without them was not bit-identical.
                    + (f" --threads {threads}" if threads is not None else ""))
        raise typer.Exit({signal.SIGTERM: 143, signal.SIGPIPE: 141}.get(stop.signal, 130))
    if (view.finished is not None and view.finished.reason == "time" and not view.finished.steps_trained
            and not view.finished.final_eval_only):
        # the budget went on starting up; the view said so
        raise typer.Exit(1)  # nothing trained or saved: `charnn train … && charnn sample` must not go on (a trial)

