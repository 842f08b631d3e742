"""`charnn info` (what a checkpoint holds) and `charnn eval` (a model's loss on a text)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer

from charnn.cli.command import DEVICES, Flag, fail, interrupted, load_announced, resolve_device, set_threads
from charnn.cli.options import check_encoding, text_file
from charnn.cli.run_list import list_runs, step_files
from charnn.config import TrainConfig
from charnn.errors import CharnnError

LONG_SPLIT = 1_000_000  # characters: scoring takes tens of seconds on a CPU (a trial's 5M: ~40 s without a word)


def info(path: Annotated[Path | None, typer.Argument(
        help="A checkpoint .pt file, a run folder, or a folder of runs (a line each) (default: the newest run under "
             "checkpoints/, else the bundled model, as `charnn sample` takes).", metavar="PATH",
        show_default=False)] = None):
    """Show a checkpoint's model, vocabulary, step and validation loss (a folder of runs: a line for each)."""
    from charnn import checkpoint_checks, runs, ui

    try:
        inside = runs.runs_inside(path) if path is not None else []
        if inside:  # checkpoints/: its runs side by side (a trial compared three cells with `info` a run at a time)
            return list_runs(path, inside)
        file = runs.resolve(path)  # before torch loads: a mistyped path is told at once, not after ~2 s
        checkpoint_checks.check_file(file)  # and an empty, text or device file
        payload = runs.read_checkpoint(file)  # without torch where it can (~2.5 s sooner on 2 cores)
        config = checkpoint_checks.checked_config(payload, file)  # not finite: shown with a warning below
    except CharnnError as problem:
        fail(str(problem))
    try:  # what charnn writes; a crafted file's metrics (a text for a loss) ended in a traceback (a review)
        broken = checkpoint_checks.not_finite(payload["model"])
        metrics, train_config = payload.get("metrics", {}), payload.get("train_config", {})
        best, last = metrics.get("best_val_loss", math.nan), metrics.get("val_loss", math.nan)
        short = runs.stopped_short(file.parent, payload if file.name == "latest.pt" else None)  # not read twice
        rows = [
            ("checkpoint", str(file)),
            ("model", f"{config.num_layers}×{config.hidden_size} {config.cell.upper()}, embedding {config.embed_dim}, "
                      f"dropout {config.dropout}, weight dropout {config.weight_dropout}"),
            ("parameters", f"{sum(math.prod(weight.shape) for weight in payload['model'].values()):,}"),
            ("vocabulary", f"{len(payload['vocab'])} character{'s' * (len(payload['vocab']) != 1)}"),
            ("trained on", str(payload.get("corpus", "?"))),
            ("step", f"{payload['step']:,} ({metrics.get('chars_seen', 0):,} chars seen)"),
        ] + ([  # a step file's own loss, where the run did better before (a trial took the best for the file's own)
            ("last val loss", f"{last:.4f} nats, {last / math.log(2):.4f} bpc (the eval these weights last had)"),
        ] if math.isfinite(last) and math.isfinite(best) and last > best else []) + [
            ("best val loss", (f"{best:.4f} nats, {best / math.log(2):.4f} bpc" if math.isfinite(best) else "–")
             + (f" (each eval scored {train_config['eval_chars']:,} chars of the split: `charnn eval` scores all)"
                if train_config.get("eval_chars") and math.isfinite(best) else "")),
            # When these weights were saved (a best.pt's are from its best eval); a trial read "0.7 min" for 40 s.
            ("training time", ui.duration(metrics.get("elapsed", 0)) + (f" into a --time "
             f"{ui.duration(train_config['time_budget'])} run" if train_config.get("time_budget") else "")),
            ("batch × seq", f"{train_config.get('batch_size', '?')} × {train_config.get('seq_len', '?')}, "
                            f"precision {train_config.get('precision', '?')}"),
            ("resumable", runs.resumable(payload, path if path is not None and path.is_dir() else file.parent)),
        ] + ([  # a trial: only `charnn sample` said that a run had been stopped (Ctrl-C) before its target
            ("stopped", f"at {ui.stopped_at(short)} (Ctrl-C or a signal): --resume goes on from its latest.pt")
        ] if short else []) + step_files(file.parent) + ([
            ("weights", f"{broken} holds NaN or infinite values: sample and eval refuse this checkpoint")
        ] if broken else [])
    except (TypeError, ValueError, AttributeError, KeyError):
        fail(f"{file} holds metrics or settings that charnn does not write — use another checkpoint")
    ui.show_info(rows)


def evaluate_command(
    corpus: Annotated[Path, typer.Argument(help="Text file to score (read as the run read its corpus, unless "
                                                "--encoding/--errors say otherwise).", metavar="CORPUS",
                                           parser=text_file)],
    checkpoint: Annotated[Path | None, typer.Option(help="A .pt file or run folder (default: the newest run "
                                                         "trained on CORPUS under checkpoints/).")] = None,
    split: Annotated[str | None, typer.Option(help="val (last fraction), train (the rest) or all \\[default: val "
                                                   "for the run's own corpus, all for another text].",
                                              show_default=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.", **Flag)] = False,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or mps.")] = "auto",
    precision: Annotated[str, typer.Option(help="fp32 (comparable everywhere) or bf16.")] = "fp32",
    encoding: Annotated[str | None, typer.Option(help="Text encoding of CORPUS \\[default: the run's, as it read its "
                                                      "corpus].", callback=check_encoding)] = None,
    errors: Annotated[str | None, typer.Option(help="Bad bytes: strict (stop) or replace \\[default: the "
                                                    "run's].")] = None,
    max_chars: Annotated[int | None, typer.Option(help="Score this many characters, in spans spread over the split, "
                                                       "instead of all of it (the bundled model: ~17,000 chars/s on 2 "
                                                       "CPU cores).",
                                                  min=1)] = None,
    unknown: Annotated[str, typer.Option(help="Characters the model never saw: error, or skip (score the text "
                                              "without them, and say how many).")] = "error",
    threads: Annotated[int | None, typer.Option(help="CPU threads \\[default: one a core, or fewer while fewer "
                                                     "are faster: beside another busy program, such as a training, "
                                                     "threads on every core wait for each other].",
                                                min=1)] = None,
):
    """Cross-entropy of a model over a whole split of CORPUS, in nats and bits per character."""
    if split not in (None, "val", "train", "all"):
        raise typer.BadParameter("must be val, train or all", param_hint="'--split'")
    if precision not in ("fp32", "bf16"):
        raise typer.BadParameter("must be fp32 or bf16", param_hint="'--precision'")
    if device not in DEVICES:
        raise typer.BadParameter(f"must be one of {', '.join(DEVICES)}", param_hint="'--device'")
    if errors not in (None, "strict", "replace"):
        raise typer.BadParameter("must be strict or replace", param_hint="'--errors'")
    if unknown not in ("error", "skip"):  # replace would score the stand-in as text
        raise typer.BadParameter("must be error or skip", param_hint="'--unknown'")
    import json

    from charnn import runs, ui
    from charnn.data import ReadOptions, check_corpus_path
    from charnn.runs import newest_trained_on, trained_on
    from charnn.vocab import Vocab, listed

    so_far: list = []  # (characters scored, their summed loss): what a Ctrl-C reports
    wanted = split_chars = 0
    try:
        check_corpus_path(corpus)  # first: a typo in its name must not read as "no run trained on it"
        if checkpoint is None:  # any run folder (a --resume without --out looks in checkpoints/<stem>, -2, … alone)
            checkpoint = newest_trained_on(corpus.name)
            if checkpoint is not None:
                ui.info(f"scoring {checkpoint} (the newest run trained on {corpus.name})")
            elif trained_on(runs.BUNDLED.parent) == corpus.name:
                checkpoint = runs.BUNDLED  # as `charnn sample` falls back to it (a new-user trial)
                ui.info(f"scoring the bundled model, trained on {corpus.name} (no run of yours is)")
            else:  # none was: that is the folder a run would have gone to
                newest = runs.user_runs_newest_first()  # a trial's `charnn eval README.md`: which to give?
                raise CharnnError(f"no run trained on {corpus.name} under {runs.USER_RUNS}/ — give "
                                  "--checkpoint" + (f" (the newest run: --checkpoint {newest[0]})" if newest else ""))
        file = runs.resolve(checkpoint)
        from charnn import checkpoint as checkpoints  # torch (~2 s), after the paths' checks
        from charnn.evaluation import LN2, TUNED_SEQ_LEN, evaluate, lead_before
        from charnn.precision import check_precision
        from charnn.sample import default_prime

        payload = checkpoints.load(file)
        torch_device = resolve_device(device)
        model = checkpoints.build_model(payload, file).to(torch_device)
        # Read the text the way the run read its corpus (encoding, bad bytes, line endings), unless told otherwise:
        # the messages for text that does not decode suggest --encoding and --errors.
        given = {key: value for key, value in (("encoding", encoding), ("errors", errors)) if value is not None}
        options = ReadOptions(**{**payload.get("read_options", {}), **given})
        data = load_announced(corpus, options, vocab=Vocab(payload["vocab"]), unknown=unknown)
        if data.skipped:  # (a teacher's held-out poem had a capital M and a '!' its rhymes never had)
            ui.info(f"--unknown skip: left out {sum(data.skipped.values()):,} characters the model never saw "
                    f"({listed(list(data.skipped))}); the text is scored without them")
        fraction = payload.get("train_config", {}).get("val_fraction", TrainConfig.val_fraction)
        if split is None:  # a held-out text is scored whole: a trial's held-out file had its last 10% scored alone
            # The run's corpus by its text where both are known (another `input.txt` is not it; a renamed copy is).
            # Else by its name and length: the bundled model keeps no digest, and a trial's 9,000 characters of
            # samples saved as tinyshakespeare.txt had their last 10% scored as its held-out text.
            known = None not in (payload.get("corpus_digest"), data.digest)
            own = (payload["corpus_digest"] == data.digest if known
                   else payload.get("corpus", corpus.name) == corpus.name
                   and payload.get("corpus_chars", len(data.ids)) == len(data.ids))
            split = "val" if own else "all"
            if split == "all":
                ui.info(f"scoring all of {corpus.name}, which is not the text the run was trained on "
                        f"({payload.get('corpus', '?')}); --split val scores its last {fraction:.0%} instead")
        train_ids, val_ids = data.split(fraction)
        ids = {"val": val_ids, "train": train_ids, "all": data.ids}[split]
        if len(ids) < 2:
            count = f"{len(ids)} character{'s' * (len(ids) != 1)}" + (" left" if data.skipped else "")
            raise CharnnError(f"the {split} split of {corpus} has {count}; at least 2 are needed to score one — "
                              + ("use --split all or a longer text" if split != "all" else "use a longer text"))
        split_chars = len(ids) - 1  # predictions: the first character is only read
        wanted = min(split_chars, max_chars or split_chars)
        if wanted > LONG_SPLIT:
            ui.info(f"scoring {wanted:,} characters (Ctrl-C for the score so far"
                    + ("; --max-chars N scores N of them, spread over the split)" if wanted == split_chars else ")"))

        from charnn.threads import EVAL_WINDOW, tuned_threads

        def progress(fraction: float, scored: int, total: float) -> None:
            so_far[:] = [scored, total]
            shown.update(fraction)
            if tuner is not None:
                tuner.step_done()

        # Its threads tuned by the speed they give, as training's are: beside a busy program, a trial's eval of a
        # 3 MB split said "4m43s left" on 2 threads, and two evals at once took 22 s each (4.5 s on 1 thread each).
        with ui.Progress(f"scoring {wanted:,} characters") as shown, tuned_threads(
                set_threads(threads, torch_device, probe=False), EVAL_WINDOW) as tuner:
            nats, chars = evaluate(model, ids, check_precision(torch_device, precision), max_chars=max_chars,
                                   on_progress=progress, lead=lead_before(
                                       data.ids, len(train_ids) if split == "val" else 0,
                                       data.vocab.encode(default_prime(data.vocab))),
                                   **({} if tuner is None else {"seq_len": TUNED_SEQ_LEN}))
    except CharnnError as problem:
        fail(str(problem))
    except KeyboardInterrupt:
        # A trial's Ctrl-C after 1m45s of a 38-minute eval said only `interrupted`. What was scored is the start of
        # every stream's span, spread over the split: a score of its own.
        scored, total = so_far or (0, 0.0)
        interrupted(f"interrupted after scoring {scored:,} of {wanted:,} characters, spread over the {split} split: "
                    f"{total / scored:.4f} nats ({total / scored / LN2:.4f} bpc) so far" if scored else "interrupted")
    result = {"nats": nats, "bpc": nats / LN2, "chars": chars, "split": split, "checkpoint": str(file),
              "corpus": str(corpus)}
    if as_json:
        print(json.dumps(result))
    else:
        scored = f"{chars:,} of {split_chars:,} chars scored, spread over it" if chars < split_chars else (
            f"{chars:,} chars scored")
        # Which model: three evals in a row, each of another --checkpoint, read alike (a new-user trial).
        ui.show_info([("checkpoint", str(file)), ("split", f"{split} ({scored})"), ("loss", f"{nats:.4f} nats"),
                      ("bits per char", f"{nats / LN2:.4f}")])
