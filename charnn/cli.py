"""The `charnn` command: options → configs, core ↔ ui, errors → exit codes.

Exit codes: 0 ok, 1 a problem with the input (one line on stderr), 2 bad usage, 130 interrupted
(143 for SIGTERM during training). torch and the core are imported inside the commands, so
`charnn --help` answers without loading them.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import re
import signal
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from charnn.config import ACCELERATOR_BATCH_SIZE, CELLS, ModelConfig, TrainConfig
from charnn.errors import CharnnError

STARTED_AT = time.monotonic()  # the time budget counts from here: torch, corpus and model set-up included

def valueless_help(command_class):
    """`command_class` whose --help shows no value type: Typer 0.29 writes `--help <bool>`, as if it took one; and
    whose usage line names a required argument CORPUS, not Typer 0.29's `{CORPUS}`."""

    class Command(command_class):
        def get_help_option(self, ctx):
            option = super().get_help_option(ctx)
            if option is not None:
                option.metavar = ""
            return option

        def collect_usage_pieces(self, ctx):
            return [re.sub(r"^\{(.*)\}$", r"\1", piece) for piece in super().collect_usage_pieces(ctx)]

    return Command


Command, Group = valueless_help(typer.core.TyperCommand), valueless_help(typer.core.TyperGroup)
Flag = dict(metavar="")  # for bool options: no `<bool>` after them in --help (they take no value)

app = typer.Typer(
    cls=Group,
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",  # help strings are Rich markup: their "\[default: …]" brackets are escaped
    help="Train a character-level LSTM on any text, then stream new text in its style.",
)


def show_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"charnn {version('charnn')}")
        except PackageNotFoundError:  # run from a source tree that was never installed
            typer.echo("charnn (not installed)")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", callback=show_version, is_eager=True, **Flag,
                                          help="Show charnn's version and exit.")] = False,
):
    """Train a character-level LSTM on any text, then stream new text in its style."""


def fail(message: str, code: int = 1):
    from charnn import ui

    ui.error(message)
    raise typer.Exit(code)


def interrupted(message: str = "interrupted"):
    """Ctrl-C: the user's choice, so said as information rather than as an error; exit 130."""
    from charnn import ui

    ui.info(message)
    raise typer.Exit(130)


def parse_duration(text: str) -> float:
    """'90s', '10m', '1h30m', '1.5h' → seconds; a bare number is refused (seconds or minutes?)."""
    text = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", text):  # 10 seconds or 10 minutes? A trial user meant minutes and got seconds.
        raise typer.BadParameter(f"{text!r} has no unit — say {text}s or {text}m (e.g. 90s, 10m, 1h30m)",
                                 param_hint="'--time'")
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([hms])", text)
    if not parts or re.sub(r"\d+(?:\.\d+)?\s*[hms]", "", text).strip():
        raise typer.BadParameter(f"{text!r} is not a duration — use e.g. 90s, 10m, 1h30m", param_hint="'--time'")
    seconds = sum(float(value) * {"h": 3600, "m": 60, "s": 1}[unit] for value, unit in parts)
    if seconds <= 0:
        raise typer.BadParameter("the duration must be more than zero", param_hint="'--time'")
    return seconds


def check_top_p(value: float | None) -> float | None:
    if value is not None and (math.isnan(value) or not (0 < value <= 1)):
        raise typer.BadParameter(f"must be in (0, 1], not {value}")
    return value


def check_dropout(value: float | None) -> float | None:
    if value is not None and not 0 <= value < 1:
        raise typer.BadParameter(f"must be in [0, 1), not {value}")
    return value


def check_nonnegative(value: float | None) -> float | None:
    if value is not None and not (value >= 0 and math.isfinite(value)):
        raise typer.BadParameter(f"must be a number ≥ 0, not {value}")
    return value


def check_positive(value: float | None) -> float | None:
    if value is not None and not (value > 0 and math.isfinite(value)):
        raise typer.BadParameter(f"must be a positive number, not {value}")
    return value


def check_seed(value: int | None) -> int | None:
    if value is not None and not 0 <= value < 2**63:  # a callback, not min/max: those print the range in --help
        raise typer.BadParameter(f"must be a whole number from 0 to 2^63 - 1, not {value}")
    return value


def check_encoding(value: str) -> str:
    import codecs

    try:
        codecs.lookup(value)
    except LookupError:
        raise typer.BadParameter(f"unknown encoding {value!r} — try utf-8 or latin-1") from None
    return value


def check_temperature(value: float) -> float:
    if not math.isfinite(value) or value < 0:  # inf would draw every character alike: noise, not a setting
        raise typer.BadParameter(f"must be 0 (greedy) or more, and finite, not {value}")
    return value


def resolve_device(name: str):
    import torch

    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        fail("--device cuda: no CUDA GPU is available here — use --device cpu or auto")
    if name == "mps" and not torch.backends.mps.is_available():
        fail("--device mps: Apple's MPS is not available here — use --device cpu or auto")
    return torch.device(name)


DEVICES = ["auto", "cpu", "cuda", "mps"]
LONG_PRIME = 20_000  # characters; a prime this long is announced (the bundled model reads ~11,000 a second)
M, T = ModelConfig, TrainConfig
Positive = dict(min=1)


@app.command(cls=Command)
def train(
    corpus: Annotated[Path, typer.Argument(help="UTF-8 text file to learn from.", metavar="CORPUS")],
    steps: Annotated[int | None, typer.Option(help="Optimizer steps (default: a 10m budget).", **Positive)] = None,
    time_budget: Annotated[str | None, typer.Option("--time", help="Wall-clock budget, with its unit: 90s, 10m, "
                                                                   "1h30m.")] = None,
    out: Annotated[Path | None, typer.Option(help="Run folder (default checkpoints/<corpus name>, or <corpus "
                                                  "name>-2, -3, … when that holds a run).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in the run folder from its latest.pt "
                                                             "(without --out: the newest run of this corpus).",
                                         **Flag)] = False,
    cell: Annotated[str | None, typer.Option(help=f"Recurrent cell: {', '.join(CELLS)} \\[default: {M.cell}].")] = None,
    layers: Annotated[int | None, typer.Option(help="Stacked recurrent layers \\[default: preset].",
                                               **Positive)] = None,
    hidden_size: Annotated[int | None, typer.Option(help="Units per layer \\[default: preset].", **Positive)] = None,
    embed_dim: Annotated[int | None, typer.Option(help=f"Character embedding size \\[default: {M.embed_dim}].",
                                                  **Positive)] = None,
    dropout: Annotated[float | None, typer.Option(help="Dropout on each layer's output, in \\[0, 1) "
                                                       "\\[default: preset].", callback=check_dropout)] = None,
    weight_dropout: Annotated[float | None, typer.Option(help="DropConnect on the recurrent weights, in \\[0, 1) "
                                                         "\\[default: preset].", callback=check_dropout)] = None,
    seq_len: Annotated[int | None, typer.Option(help=f"Characters per window (BPTT length) \\[default: "
                                                     f"{T.seq_len}, less for tiny corpora].", **Positive)] = None,
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
                                                  f"{T.seed}].", callback=check_seed)] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or mps.")] = "auto",
    precision: Annotated[str, typer.Option(help="auto, fp32 or bf16 (auto: bf16 where it is native).")] = "auto",
    encoding: Annotated[str, typer.Option(help="Text encoding of the corpus.", callback=check_encoding)] = "utf-8",
    errors: Annotated[str, typer.Option(help="Bad bytes: strict (stop) or replace.")] = "strict",
    keep_crlf: Annotated[bool, typer.Option("--keep-crlf", help="Keep CRLF line endings instead of LF.",
                                            **Flag)] = False,
):
    """Train a model on CORPUS, showing progress and saving checkpoints as it goes.

    With --resume, every size/optimizer flag not given is taken from the run's latest.pt, and so is \
the target (--steps/--time) when neither is given.
    """
    if cell is not None and cell not in CELLS:
        raise typer.BadParameter(f"must be one of {', '.join(CELLS)}", param_hint="'--cell'")
    if device not in DEVICES:
        raise typer.BadParameter(f"must be one of {', '.join(DEVICES)}", param_hint="'--device'")
    if precision not in ("auto", "fp32", "bf16"):
        raise typer.BadParameter("must be auto, fp32 or bf16", param_hint="'--precision'")
    if errors not in ("strict", "replace"):
        raise typer.BadParameter("must be strict or replace", param_hint="'--errors'")
    budget = parse_duration(time_budget) if time_budget is not None else None
    run_dir = out

    from charnn import ui
    from charnn.data import ReadOptions, load_corpus
    from charnn.planning import plan_run
    from charnn.runs import check_can_resume, check_can_start, new_run_folder, newest_run_folder
    from charnn.train import train as run_training

    stop = StopFlag()
    try:
        torch_device = resolve_device(device)
        data = load_corpus(corpus, ReadOptions(encoding, errors, keep_crlf))
        if not resume:  # before anything about run folders or sizes is said (train() checks a resume's own split)
            data.check_trainable(T.val_fraction)
        if run_dir is None:  # checkpoints/<corpus name>; a new run never replaces an earlier one
            base = Path("checkpoints") / corpus.stem
            run_dir = newest_run_folder(base, corpus.name) if resume else new_run_folder(base)
            if run_dir != base and not resume:
                ui.info(f"{base} holds an earlier run: this one goes to {run_dir}")
        (check_can_resume if resume else check_can_start)(run_dir)  # before the preset says anything
        given = dict(cell=cell, num_layers=layers, hidden_size=hidden_size, embed_dim=embed_dim, dropout=dropout,
                     weight_dropout=weight_dropout, batch_size=batch_size, seq_len=seq_len, lr=lr,
                     weight_decay=weight_decay, eval_every=eval_every, keep_checkpoints=keep, seed=seed)
        plan = plan_run(data, run_dir if resume else None, given, steps, budget, torch_device, precision)
        if plan.preset_reason:
            ui.info(f"model size from the preset: {plan.preset_reason} (--layers/--hidden-size to choose)")
        with stop.installed(), ui.TrainView() as view:
            run_training(data, run_dir, plan.model_config, plan.config, torch_device, view, resume, stop.is_set,
                         STARTED_AT)
    except CharnnError as problem:
        fail(str(problem))
    except KeyboardInterrupt:
        interrupted()
    if stop.signal is not None:
        ui.info(f"stopped; latest checkpoint saved in {run_dir / 'latest.pt'} — continue with: "
                f"charnn train {corpus} --out {run_dir} --resume")
        raise typer.Exit(143 if stop.signal == signal.SIGTERM else 130)


class StopFlag:
    """First Ctrl-C/SIGTERM asks training to stop after the current step; a second Ctrl-C stops now."""

    def __init__(self):
        self.signal: int | None = None

    def is_set(self) -> bool:
        return self.signal is not None

    def handle(self, number, frame) -> None:
        if self.signal is not None:
            raise KeyboardInterrupt
        self.signal = number
        from charnn import ui

        # At once, from the handler: the step may be an eval and a save of several seconds, and a user who sees
        # nothing presses Ctrl-C again, which quits without the save.
        ui.info("stopping after this step and saving latest.pt (Ctrl-C again to quit at once)")

    def installed(self):
        flag = self

        class Installed:
            def __enter__(self):
                self.previous = {s: signal.signal(s, flag.handle) for s in (signal.SIGINT, signal.SIGTERM)}

            def __exit__(self, *exc):
                for number, handler in self.previous.items():
                    signal.signal(number, handler)

        return Installed()


def write_output(output: Path, text: str) -> None:
    from charnn import ui

    try:
        output.write_text(text, encoding="utf-8")
    except OSError as problem:
        raise CharnnError(f"cannot write --output {output}: {problem.strerror}") from None
    ui.info(f"wrote {len(text):,} chars to {output}")


def unescape(text: str | None) -> str | None:
    """'\\n' and '\\t' typed on a command line → a real newline / tab (for --stop)."""
    return None if text is None else text.replace("\\n", "\n").replace("\\t", "\t")


def check_writable(output: Path) -> None:
    """Refuse an --output that cannot be written, without creating or changing it."""
    folder = output.parent  # Path("x").parent is Path(".")
    if output.is_dir():
        raise CharnnError(f"cannot write --output {output}: it is a folder — give a file name")
    if not folder.is_dir():
        raise CharnnError(f"cannot write --output {output}: no folder {folder} — create it or choose another path")
    if not os.access(output if output.exists() else folder, os.W_OK):
        raise CharnnError(f"cannot write --output {output}: permission denied — choose another path")


@app.command(cls=Command)
def sample(
    checkpoint: Annotated[Path | None, typer.Option(help="A .pt file or run folder (default: newest run, "
                                                         "else the bundled model).")] = None,
    prime: Annotated[str, typer.Option(help="Text to start from (not printed again); '-' reads stdin.")] = "",
    prime_file: Annotated[Path | None, typer.Option(help="Read the prime from a UTF-8 file.")] = None,
    length: Annotated[int, typer.Option(help="Characters to generate (per sample).", min=0)] = 1000,
    temperature: Annotated[float, typer.Option(help="Randomness: 0 = greedy, 1 = as trained.",
                                               callback=check_temperature)] = 0.8,
    top_k: Annotated[int | None, typer.Option(help="Sample only from the k likeliest characters.", min=1)] = None,
    top_p: Annotated[float | None, typer.Option(help="Sample from the smallest set with this much probability, "
                                                     "in (0, 1].", callback=check_top_p)] = None,
    seed: Annotated[int | None, typer.Option(help="Same seed, same text (default: random, shown at the end).",
                                             callback=check_seed)] = None,
    stop: Annotated[str | None, typer.Option(help="Stop after this text appears (\\n for a newline), "
                                                  "e.g. '\\n\\n' or 'THE END'.")] = None,
    num_samples: Annotated[int, typer.Option(help="Samples generated together in one batch.", min=1)] = 1,
    unknown: Annotated[str, typer.Option(help="Prime chars the model never saw: error, skip or replace.")] = "error",
    style: Annotated[str, typer.Option(help="On a colour terminal: auto (style the text where the model writes a "
                                            "play or screenplay), script (always) or plain.")] = "auto",
    output: Annotated[Path | None, typer.Option(help="Also write the text to this file.")] = None,
    output_format: Annotated[str, typer.Option("--format", help="text, or fountain (a screenplay file).")] = "text",
    interactive: Annotated[bool, typer.Option("--interactive", help="Type primes and watch continuations; /help for "
                                                                     "commands.", **Flag)] = False,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or mps. One character at a time is fastest "
                                             "on the CPU.")] = "cpu",
):
    """Stream new text from a trained model to stdout, character by character."""
    for name, value, choices in [("--unknown", unknown, ("error", "skip", "replace")), ("--device", device, DEVICES),
                                 ("--style", style, ("auto", "script", "plain")),
                                 ("--format", output_format, ("text", "fountain"))]:
        if value not in choices:
            raise typer.BadParameter(f"must be one of {', '.join(choices)}", param_hint=f"'{name}'")
    if stop == "":
        raise typer.BadParameter("must not be empty", param_hint="'--stop'")
    if prime and prime_file is not None:
        raise typer.BadParameter("give --prime or --prime-file, not both", param_hint="'--prime-file'")
    if interactive and (num_samples > 1 or output is not None):
        raise typer.BadParameter("--interactive writes one stream to the terminal; leave out --num-samples and "
                                 "--output", param_hint="'--interactive'")
    import torch

    from charnn import checkpoint as checkpoints
    from charnn import script, ui
    from charnn.data import Vocab, listed
    from charnn.sample import check_controls, generate, generate_batch, writes_script

    seed = int.from_bytes(os.urandom(4), "little") if seed is None else seed
    stop = unescape(stop)
    pieces: list[str] = []  # the streamed sample so far, which Ctrl-C still writes to --output
    stream = None
    try:
        if prime_file is not None:
            try:
                prime = prime_file.read_text(encoding="utf-8")
            except OSError as problem:
                raise CharnnError(f"cannot read --prime-file {prime_file}: {problem.strerror}") from None
            except UnicodeDecodeError:
                raise CharnnError(f"cannot read --prime-file {prime_file}: not UTF-8 text") from None
        elif prime == "-" and not interactive:
            prime = sys.stdin.read()
        if output is not None:  # before any generating: a long sample must not be lost to a typo here
            check_writable(output)
        path = checkpoints.resolve(checkpoint)
        payload = checkpoints.load(path)
        model = checkpoints.build_model(payload, path).to(resolve_device(device))
        vocab = Vocab(payload["vocab"])
        check_controls(temperature, top_k, top_p)
        vocab.encode(prime, unknown=unknown)  # fail before any output if the prime is unusable
        if unknown != "error" and vocab.unknown(prime):
            unseen = listed(vocab.unknown(prime))
            ui.info(f"--unknown {unknown}: {'dropped' if unknown == 'skip' else 'replaced'} the prime's "
                    f"characters the model never saw: {unseen}")
        config = payload["model_config"]
        label = f"{config['num_layers']}×{config['hidden_size']} {config['cell'].upper()}"
        ui.info(f"sampling from {path} ({label}, step {payload['step']:,})")
        if interactive:
            from charnn.interactive import session

            return session(model, vocab, label, temperature, top_k, top_p, length, seed, unknown, stop, style)
        generator = torch.Generator().manual_seed(seed)
        if num_samples > 1 and temperature == 0:
            ui.info("temperature 0 is greedy: every sample will be the same")
        started = time.monotonic()
        if num_samples > 1 or output_format == "fountain" and output is None:
            with ui.Spinner(f"{label} · temp {temperature} · writing {num_samples} × {length:,} chars") as spin:
                texts = generate_batch(model, vocab, prime, length, num_samples, temperature, top_k, top_p, generator,
                                       unknown, stop, on_progress=spin.progress(length))
            count = sum(map(len, texts))
            shown = [script.to_fountain(prime + text) for text in texts] if output_format == "fountain" else texts
            script_like = script.looks_like_script(prime[-4000:] + "\n\n".join(shown))
            for number, text in enumerate(shown, 1):
                if num_samples > 1:
                    ui.sample_header(number, num_samples, style, shown[number - 2] if number > 1 else "")
                ui.show_text(text, style, script_like)
        else:
            if len(prime) > LONG_PRIME:  # read one character at a time: seconds before the first one is written
                ui.info(f"reading the {len(prime):,}-character prime first")
            chars = generate(model, vocab, prime, length, temperature, top_k, top_p, generator, unknown, stop)
            stream = ui.open_stream(style, sys.stdout, context=prime, writes_script=functools.partial(
                writes_script, model, vocab, prime, temperature, top_k, top_p, unknown) if length else None)
            with ui.status_for(stream, label, temperature, length) as status:
                for char in chars:
                    if not pieces:  # chars/s of the sample, not of reading the prime or of the trial samples
                        started = time.monotonic()
                    pieces.append(char)
                    stream.write(char)
                    status.tick()
            count = len(pieces)
            texts = ["".join(pieces)]
            if sys.stdout.isatty() and texts[0] and not texts[0].endswith("\n"):
                sys.stdout.write("\n")
        if output is not None:
            write_output(output, script.output_text(texts, prime, output_format == "fountain"))
    except CharnnError as problem:
        fail(str(problem))
    except KeyboardInterrupt:
        if sys.stdout.isatty():
            sys.stdout.write("\n")  # end the cut line; a pipe gets exactly the text generated
            sys.stdout.flush()
        so_far = "".join(pieces)
        so_far = so_far[: len(so_far) - len(stream.dropped if stream is not None else "")]  # as the screen shows it
        if output is not None and so_far:
            with contextlib.suppress(CharnnError):
                write_output(output, script.output_text([so_far], prime, output_format == "fountain"))
        interrupted(f"interrupted (seed {seed})")
    except BrokenPipeError:
        # The reader (e.g. `head`) has gone: stop quietly, and keep Python from complaining at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(0) from None
    ui.sample_footer(count, time.monotonic() - started, seed)


@app.command(cls=Command)
def info(path: Annotated[Path, typer.Argument(help="A checkpoint .pt file or a run folder.", metavar="PATH")]):
    """Show a checkpoint's model, vocabulary, step and validation loss."""
    from charnn import checkpoint as checkpoints
    from charnn import ui
    from charnn.runs import resumable

    try:
        file = checkpoints.resolve(path)
        payload = checkpoints.load(file)
        model = checkpoints.build_model(payload, file)
    except CharnnError as problem:
        fail(str(problem))
    config, metrics, train_config = payload["model_config"], payload.get("metrics", {}), payload.get("train_config", {})
    best = metrics.get("best_val_loss", math.nan)
    rows = [
        ("checkpoint", str(file)),
        ("model", f"{config['num_layers']}×{config['hidden_size']} {config['cell'].upper()}, embedding "
                  f"{config['embed_dim']}, dropout {config['dropout']}, weight dropout "
                  f"{config.get('weight_dropout', 0.0)}"),
        ("parameters", f"{model.num_parameters():,}"),
        ("vocabulary", f"{len(payload['vocab'])} characters"),
        ("trained on", str(payload.get("corpus", "?"))),
        ("step", f"{payload['step']:,} ({metrics.get('chars_seen', 0):,} chars seen)"),
        ("best val loss", f"{best:.4f} nats, {best / math.log(2):.4f} bpc" if math.isfinite(best) else "–"),
        ("training time", f"{metrics.get('elapsed', 0) / 60:.1f} min"),
        ("batch × seq", f"{train_config.get('batch_size', '?')} × {train_config.get('seq_len', '?')}, "
                        f"precision {train_config.get('precision', '?')}"),
        ("resumable", resumable(payload, path if path.is_dir() else file.parent)),
    ]
    ui.show_info(rows)


@app.command(name="eval", cls=Command)
def evaluate_command(
    corpus: Annotated[Path, typer.Argument(help="UTF-8 text file to score.", metavar="CORPUS")],
    checkpoint: Annotated[Path | None, typer.Option(help="A .pt file or run folder (default: the newest run "
                                                         "trained on CORPUS under checkpoints/).")] = None,
    split: Annotated[str, typer.Option(help="val (last fraction), train (the rest) or all.")] = "val",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.", **Flag)] = False,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or mps.")] = "auto",
    precision: Annotated[str, typer.Option(help="fp32 (comparable everywhere) or bf16.")] = "fp32",
):
    """Cross-entropy of a model over a whole split of CORPUS, in nats and bits per character."""
    if split not in ("val", "train", "all"):
        raise typer.BadParameter("must be val, train or all", param_hint="'--split'")
    if precision not in ("fp32", "bf16"):
        raise typer.BadParameter("must be fp32 or bf16", param_hint="'--precision'")
    if device not in DEVICES:
        raise typer.BadParameter(f"must be one of {', '.join(DEVICES)}", param_hint="'--device'")
    import json

    from charnn import checkpoint as checkpoints
    from charnn import ui
    from charnn.data import ReadOptions, Vocab, check_corpus_path, load_corpus
    from charnn.evaluation import LN2, evaluate
    from charnn.precision import check_precision
    from charnn.runs import newest_run_folder, trained_on

    try:
        check_corpus_path(corpus)  # first: a typo in its name must not read as "no run trained on it"
        if checkpoint is None:  # as `charnn train CORPUS --resume` finds its run
            checkpoint = newest_run_folder(checkpoints.USER_RUNS / corpus.stem, corpus.name)
            if trained_on(checkpoint) != corpus.name:  # none was: that is the folder a run would have gone to
                raise CharnnError(f"no run trained on {corpus.name} under {checkpoints.USER_RUNS}/ — give "
                                  "--checkpoint")
            ui.info(f"scoring {checkpoint} (the newest run trained on {corpus.name})")
        file = checkpoints.resolve(checkpoint)
        payload = checkpoints.load(file)
        torch_device = resolve_device(device)
        model = checkpoints.build_model(payload, file).to(torch_device)
        # Read the text the way the run read its corpus (encoding, bad bytes, line endings).
        options = ReadOptions(**payload.get("read_options", {}))
        data = load_corpus(corpus, options, vocab=Vocab(payload["vocab"]))
        fraction = payload.get("train_config", {}).get("val_fraction", TrainConfig.val_fraction)
        train_ids, val_ids = data.split(fraction)
        ids = {"val": val_ids, "train": train_ids, "all": data.ids}[split]
        if len(ids) < 2:
            raise CharnnError(f"the {split} split of {corpus} has {len(ids)} characters; at least 2 are needed "
                              "to score one — use --split all or a longer text")
        nats, chars = evaluate(model, ids, check_precision(torch_device, precision))
    except CharnnError as problem:
        fail(str(problem))
    except KeyboardInterrupt:
        interrupted()
    result = {"nats": nats, "bpc": nats / LN2, "chars": chars, "split": split, "checkpoint": str(file),
              "corpus": str(corpus)}
    if as_json:
        print(json.dumps(result))
    else:
        ui.show_info([("split", f"{split} ({chars:,} chars scored)"), ("loss", f"{nats:.4f} nats"),
                      ("bits per char", f"{nats / LN2:.4f}")])
