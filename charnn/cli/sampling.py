"""`charnn sample`: a checkpoint and controls → text streamed to stdout, a batch, a file, or the prompt loop."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from charnn.cli.command import DEVICES, Flag, fail, interrupted, resolve_device, set_threads
from charnn.cli.options import check_seed, check_temperature, check_top_p, check_writable, read_prime
from charnn.cli.sigterm import Termination
from charnn.cli.stopping import CtrlCGate, ctrl_c_noted, drop_stdout, keep_what_was_made, write_output
from charnn.config import SAMPLING_PRECISIONS
from charnn.errors import CharnnError

LONG_PRIME = 20_000  # characters; a prime this long is announced (the bundled model reads ~20,000 a second)
PROBED_PRIME = 256  # characters; torch's threads are probed before the sequence kernel reads a prime this long


def unescape(text: str | None) -> str | None:
    """'\\n' and '\\t' typed on a command line → a real newline / tab (for --stop)."""
    return None if text is None else text.replace("\\n", "\n").replace("\\t", "\t")


def sample(
    checkpoint: Annotated[Path | None, typer.Option(help="A .pt file or run folder (default: newest run, "
                                                         "else the bundled model).")] = None,
    prime: Annotated[str, typer.Option(help="Text to start from (a terminal shows its last line dim; a pipe or "
                                            "file gets the text alone); '-' reads stdin. \\n and "
                                            "\\t are a line break and a tab, unless the model knows backslashes."
                                       )] = "",
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
    num_samples: Annotated[int, typer.Option(help="Samples generated together in one batch; each header shows the "
                                                  "seed that makes its sample alone.", min=1)] = 1,
    unknown: Annotated[str, typer.Option(help="Prime chars the model never saw: error, skip or replace.")] = "error",
    style: Annotated[str, typer.Option(help="On a colour terminal: auto (style the text where the model writes a "
                                            "play or screenplay), script (always) or plain.")] = "auto",
    output: Annotated[Path | None, typer.Option(help="Also write the text to this file (not over one that holds "
                                                     "text, unless --force).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Let --output replace a file that holds text.",
                                        **Flag)] = False,
    output_format: Annotated[str | None, typer.Option(
        "--format", help="text, or fountain (a screenplay file). \\[default: fountain for an --output FILE.fountain, "
                         "else text]", show_default=False)] = None,
    interactive: Annotated[bool, typer.Option("--interactive", help="Type primes and watch continuations; /help for "
                                                                     "commands.", **Flag)] = False,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or mps. One character at a time is fastest "
                                             "on the CPU.")] = "cpu",
    precision: Annotated[str, typer.Option(help="On a CPU: auto (int8 where the CPU has int8 dot products: up to ~3× "
                                                "as fast, same quality; Linux only for one stream) or fp32 (as other "
                                                "CPUs compute, so a seed gives the text it gives there, bar a rare "
                                                "near-tie; one stream then starts without torch, ~2 s "
                                                "sooner).")] = "auto",
    threads: Annotated[int | None, typer.Option(help="CPU threads \\[default: one a core, or fewer while fewer "
                                                     "are faster: beside another busy program, such as a training, "
                                                     "threads on every core wait for each other].",
                                                min=1)] = None,
):
    """Stream new text from a trained model to stdout, character by character."""
    if output_format is None:  # a trial's `--output film.fountain` wrote plain text without a word
        output_format = "fountain" if output is not None and output.suffix.lower() == ".fountain" else "text"
    output_format = output_format.lower()
    for name, value, choices in [("--unknown", unknown, ("error", "skip", "replace")), ("--device", device, DEVICES),
                                 ("--style", style, ("auto", "script", "plain")),
                                 ("--format", output_format, ("text", "fountain")),
                                 ("--precision", precision, SAMPLING_PRECISIONS)]:
        if value not in choices:
            raise typer.BadParameter(f"must be one of {', '.join(choices)}", param_hint=f"'{name}'")
    if stop == "":
        raise typer.BadParameter("must not be empty", param_hint="'--stop'")
    if prime and prime_file is not None:
        raise typer.BadParameter("give --prime or --prime-file, not both", param_hint="'--prime-file'")
    if force and output is None:  # a flag that does nothing is refused, not ignored (a review)
        raise typer.BadParameter("--force lets --output replace a file: give --output FILE too", param_hint="'--force'")
    if interactive and (num_samples > 1 or output is not None or prime or prime_file is not None
                        or output_format != "text"):  # each was ignored without a word (a new-user trial: --prime)
        raise typer.BadParameter("takes its primes from the terminal and writes one stream there; leave out "
                                 "--num-samples, --output, --format, --prime and --prime-file",
                                 param_hint="'--interactive'")
    from charnn import documents, runs, ui
    from charnn.batch_rows import BatchRows
    from charnn.vocab import Vocab, listed, typed_breaks, unseen_note

    seed = int.from_bytes(os.urandom(4), "little") if seed is None else seed
    stop = unescape(stop)
    pieces: list[str] = []  # the streamed sample so far, which Ctrl-C still writes to --output
    stream = batch = shown = None  # one sample's stream, or a batch's rows and their stream (what Ctrl-C still writes)
    seeds = None  # a batch's, one a sample (none at temperature 0)
    texts: list[str] = []
    open_line = False  # the text on stdout ended mid-line
    written = False  # --output written
    fountain = output_format == "fountain"
    termination = Termination()
    # How a stop is named: the seed repeats the text, except at temperature 0, where any seed gives the same, and in
    # a session, whose /seed and /temp change them. Named once text is being made: a Ctrl-C while a checkpoint
    # loaded said `interrupted (seed …)` of a text never begun.
    seed_told, told = (f" (seed {seed})" if temperature and not interactive else ""), ""
    with termination.installed():
        try:
            typed = prime_file is None and prime != "-"
            prime = read_prime(prime, prime_file)
            if output is not None:  # before any generating: a long sample must not be lost to a typo here
                check_writable(output, replace=force)
            path = runs.resolve(checkpoint)
            from charnn import checkpoint_arrays, checkpoint_checks
            from charnn.drawing import check_controls, sample_seeds
            from charnn.mersenne import MersenneTwister
            from charnn.sample import generate, generate_batch, seed_with_prime, seeds_with_prime, writes_script
            from charnn.threads import set_blas_threads

            # One stream's products in fp32 are NumPy's: --threads fixes its BLAS's count, else that is tuned.
            payload, model, most_threads = None, None, set_blas_threads(threads)
            checkpoint_checks.check_file(path)  # an empty or text file is told at once, before torch's ~2 s
            if checkpoint_arrays.samples_without_torch(device, precision, num_samples, len(prime)):
                payload, model = checkpoint_arrays.load(path)
            if model is None:  # torch's: after the paths' checks, so that a mistyped one is told at once
                from charnn import checkpoint as checkpoints

                payload = checkpoints.load(path)
                torch_device = resolve_device(device)
                model = checkpoints.build_model(payload, path).to(torch_device)
                # Tuned as the sample goes; a long prime is read by the sequence kernel before that, in a few long
                # calls, so it gets the start's probe (0.1 s): on a shared CPU it was read on every core, 1,470
                # characters in 20–48 s (a trial; a review saw it at 300,000).
                most_threads = set_threads(threads, torch_device, probe=len(prime) > PROBED_PRIME)
            vocab = Vocab(payload["vocab"])
            if typed:  # not a file's or stdin's: their backslashes are the text's
                prime = typed_breaks(prime, vocab)
                if "\\" in vocab.index and ("\\n" in prime or "\\t" in prime):  # a trial's code prime, as typed
                    ui.info("--prime: \\n and \\t are kept as typed: this model writes backslashes (code); for a "
                            "line break or tab type one, e.g. --prime $'def f():\\n    '")
            check_controls(temperature, top_k, top_p)
            try:
                vocab.encode(prime, unknown=unknown)  # fail before any output if the prime is unusable
            except CharnnError as problem:  # which model, where charnn chose it: a trial's code prime met Shakespeare
                raise CharnnError(str(problem) + ("" if checkpoint is not None else
                                                  " (the model is the bundled Shakespeare one: no run is under "
                                                  "checkpoints/ in this folder; --checkpoint to give yours)"
                                                  if path == runs.BUNDLED else f" (the model is {path})")) from None
            note = unseen_note(vocab, prime, unknown) if unknown != "error" else None
            if note:
                ui.info(f"--unknown {unknown}: {note}")
            if stop and vocab.unknown(stop):  # a new-user trial: `--stop '日'` ran its whole length without a word
                ui.info(f"--stop: the model never writes {listed(vocab.unknown(stop))}, so it cannot stop there; each "
                        f"sample runs its --length")
            config = model.config  # its defaults filled in (a crafted file's config without num_layers: a review)
            label = f"{config.num_layers}×{config.hidden_size} {config.cell.upper()}"
            whence = (" — the bundled Shakespeare model: no run is under checkpoints/ in this folder (--checkpoint "
                       "to give one)") if checkpoint is None and path == runs.BUNDLED else ""  # a trial, cd'd elsewhere
            short = runs.stopped_short(path.parent) if checkpoint is None and path != runs.BUNDLED else None
            if short:  # the newest run, taken without a word for a finished one (two trials)
                whence = f" — the newest run, stopped at {ui.stopped_at(short)} (--checkpoint to sample another)"
            ui.info(f"sampling from {path} ({label}, step {payload['step']:,}){whence}")
            if interactive:
                from charnn.interactive import session

                with CtrlCGate().installed() as gate:  # around each character's write and its count (/save)
                    return session(model, vocab, label, temperature, top_k, top_p, length, seed, unknown, stop,
                                   style, precision, most_threads, terminated=lambda: termination.received, guard=gate)
            # torch.Generator().manual_seed's numbers, without torch; the prime mixed in (`seed_with_prime`).
            generator = MersenneTwister(seed_with_prime(seed, vocab, prime, unknown))
            # A batch: each sample has a seed of its own, shown in its header, which makes it alone (a favourite from
            # a batch could not be made again: a new-user trial). Not at temperature 0, where seeds do nothing.
            seeds = sample_seeds(seed, num_samples) if num_samples > 1 and temperature else None
            if seeds:
                generator = [MersenneTwister(one) for one in seeds_with_prime(seeds, vocab, prime, unknown)]
            if num_samples > 1 and temperature == 0:
                ui.info("temperature 0 is greedy: every sample will be the same")
            started, told = time.monotonic(), seed_told
            # Asked by --style auto, once: the model writes a few unseen samples, to tell whether to style its text.
            trial = functools.partial(writes_script, model, vocab, prime, temperature, top_k, top_p, unknown,
                                      precision, most_threads) if length else None
            if len(prime) > LONG_PRIME:  # seconds before the first character is written, in every mode
                ui.info(f"reading the {len(prime):,}-character prime first")
            if fountain:  # shown when done: a Fountain document is made from the whole text
                batch = BatchRows(vocab, num_samples, stop, seeds)
                with ui.Spinner(f"{label} · temp {temperature} · writing {num_samples} × {length:,} chars") as spin:
                    texts = generate_batch(model, vocab, prime, length, num_samples, temperature, top_k, top_p,
                                           generator, unknown, stop, on_progress=spin.progress(length), rows=batch,
                                           precision=precision, most_threads=most_threads)
                said = None
                if output is not None:  # first: a reader of stdout that has gone (`| head`) must not cost the file
                    said = write_output(output, documents.output_text(texts, prime, fountain, seeds), say=False)
                    written = True
                try:
                    ui.show_fountain(texts, prime, style, seeds)
                finally:  # said after the document, as after a text sample (two trials read it out of order)
                    if said:
                        ui.info(said)
                # chars/s from the first character, as below: a trial's 300,000-character prime read "20 chars/s"
                count, started = sum(map(len, texts)), spin.started or started
            elif num_samples > 1:
                batch = BatchRows(vocab, num_samples, stop, seeds)
                with CtrlCGate().installed() as gate, ui.BatchStream(batch, style, prime, trial, label, temperature,
                                                                     length, guard=gate) as shown:
                    texts = generate_batch(model, vocab, prime, length, num_samples, temperature, top_k, top_p,
                                           generator, unknown, stop, on_progress=shown.update, rows=batch,
                                           precision=precision, most_threads=most_threads)
                    shown.finish(texts)
                # chars/s of the samples, from their first characters: not of reading the prime or of the trial samples
                count, started = sum(map(len, texts)), shown.status.started
            else:
                chars = generate(model, vocab, prime, length, temperature, top_k, top_p, generator, unknown, stop,
                                 precision, most_threads)
                stream = ui.open_stream(style, sys.stdout, context=prime, writes_script=trial)
                stream.show_context()
                with ui.status_for(stream, label, temperature, length) as status:
                    for char in chars:
                        pieces.append(char)
                        stream.write(char)
                        status.tick()
                count, started = len(pieces), status.started  # as for a batch: from the first character
                texts = ["".join(pieces)]
                open_line = not texts[0].endswith("\n") if texts[0] else stream.context_shown
                if sys.stdout.isatty() and open_line:
                    sys.stdout.write("\n")
                    open_line = False
            if output is not None and not written:
                write_output(output, documents.output_text(texts, prime, fountain, seeds))
        except CharnnError as problem:
            fail(str(problem))
        except KeyboardInterrupt:
            with ctrl_c_noted():
                keep_what_was_made(batch, shown, pieces, stream, output, written, prime, style, fountain, bool(texts),
                                   typed=not termination.received)
            interrupted(termination.word + told, termination.code)
        except BrokenPipeError:  # the reader (e.g. `head`) has gone: stop quietly, keeping what --output asked for
            piped_together = ui.shares_stdout()  # `2>&1 | head`: stderr's reader has gone too
            with ctrl_c_noted() as pressed:  # a Ctrl-C that stopped the reader (`| cat`) may come just after
                drop_stdout()
                made = (texts or batch.texts()) if batch is not None else ["".join(pieces)]
                if output is not None and not written and any(made):
                    with contextlib.suppress(CharnnError):
                        write_output(output, documents.output_text(made, prime, fountain, seeds))
            if pressed:
                interrupted(termination.word + told, termination.code)
            if told and not piped_together:  # a random seed's text cut by `| head` could not be made again (a trial)
                # On its own line: at a terminal it followed the reader's last characters (`…ropestopped where`).
                ui.info(("\n" if sys.stderr.isatty() else "") + f"stopped where the reader of stdout left{told}")
            raise typer.Exit(0) from None
    ui.sample_footer(count, time.monotonic() - started, seed if temperature else None, open_line, num_samples)
