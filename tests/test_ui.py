"""The live training view as a terminal shows it at the end of a run, and the interactive prompt."""

from __future__ import annotations

import builtins
import dataclasses
import io
import re
import sys
from pathlib import Path

from rich.cells import cell_len
from rich.console import Console

from charnn import documents, ui
from charnn.config import ModelConfig, TrainConfig
from charnn.events import Evaluated, Evaluating, Finished, Started, Step
from charnn.ui import TrainView

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def run_view(events) -> str:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100, color_system=None)
    with TrainView(console) as view:
        for event in events:
            view(event)
    return ANSI.sub("", out.getvalue())


def started(start_step: int = 0, best: float = float("inf")) -> Started:
    return Started(Path("checkpoints/screenplay"), "cpu", "bf16", 1000, ModelConfig(60), TrainConfig(time_budget=60.0),
                   40_000, 4_000, start_step, best)


def test_the_panel_ends_at_the_final_step_and_the_summary_comes_after_it():
    """A new-user trial: the panel was left at the last progress event (99.5%, step 1,840), below the
    'finished … at step 1,844' line."""
    screen = run_view([started(), Step(1840, 1.2, 1e-4, 5000.0, 59.7, 0.995),
                       Finished(1844, 60.0, 1.38, "time", Path("checkpoints/screenplay"), 1844)])
    last_panel, summary = screen[screen.rindex("charnn train —"):].split("finished (time)")
    assert re.search(r"step +1,844", last_panel) and "100.0%" in last_panel and "99.5%" not in last_panel
    assert summary.rstrip().endswith("run folder\ncheckpoints/screenplay")  # the summary is the last line, wrapped
    assert all(line == line.rstrip() and len(line) <= 100 for line in summary.splitlines())  # at words, at 100


def test_the_panel_says_an_eval_is_under_way():
    """A new-user trial: the panel stood still for 26 s at `val loss –` while a long split was scored, and nothing
    said why. It says `evaluating…` from the eval's start to its result."""
    screen = run_view([started(), Step(10, 1.2, 1e-4, 5000.0, 3.0, 0.05), Evaluating(10)])
    assert re.search(r"val loss +evaluating…", screen[screen.rindex("charnn train —"):])
    screen = run_view([started(), Step(10, 1.2, 1e-4, 5000.0, 3.0, 0.05), Evaluating(10),
                       Evaluated(10, 1.5, 2.16, 1.5, True, "", 26.0)])
    last_panel = screen[screen.rindex("charnn train —"):]
    assert "evaluating" not in last_panel and re.search(r"val loss +1\.5000", last_panel)


def test_the_panel_drawn_under_an_evals_line_shows_that_eval():
    """A trial: under `step 861  val 0.3768 nats (best)` the panel still said `evaluating…` and the old best until
    its next refresh."""
    screen = run_view([started(), Step(10, 1.2, 1e-4, 5000.0, 3.0, 0.05), Evaluating(10),
                       Evaluated(10, 1.5, 2.16, 1.5, True, "", 0.2)])
    under = screen[screen.index("step      10  val"):]
    under = under[:under.index("╰")]  # the panel printed with the line
    assert "evaluating" not in under and re.search(r"val loss +1\.5000", under) and re.search(r"best +1\.5000", under)


def test_a_resumed_run_shows_its_last_val_loss_until_its_first_eval():
    """A trial: after --resume the panel said `val loss –` until the first eval."""
    resumed = Started(Path("checkpoints/screenplay"), "cpu", "fp32", 1000, ModelConfig(60),
                      TrainConfig(time_budget=60.0), 40_000, 4_000, 700, 1.45, None, 1.52)
    screen = run_view([resumed, Step(710, 1.2, 1e-4, 5000.0, 30.0, 0.5)])
    assert re.search(r"val loss +1\.5200 nats", screen[screen.rindex("charnn train —"):])
    screen = run_view([resumed, Step(710, 1.2, 1e-4, 5000.0, 30.0, 0.5),
                       Evaluated(720, 1.48, 2.14, 1.45, False, "", 1.0)])
    assert re.search(r"val loss +1\.4800 nats", screen[screen.rindex("charnn train —"):])
    assert re.search(r"val loss +– ", run_view([started(), Step(10, 1.2, 1e-4, 5000.0, 3.0, 0.05)]))


def test_a_sampled_split_is_said_at_the_start():
    config = TrainConfig(time_budget=60.0, eval_chars=100_000)
    event = Started(Path("checkpoints/big"), "cpu", "fp32", 1000, ModelConfig(60), config, 45_000_000, 5_000_000, 0)
    assert "5,000,000 val chars (each eval scores 100,000 of them" in " ".join(run_view([event]).split())
    assert "each eval scores" not in run_view([started()])


def test_a_tiny_validation_split_is_said_to_say_little():
    """A new-user trial's 288-character corpus reported `best val 0.1262 nats`, scored on 28 characters."""
    few = Started(Path("checkpoints/tiny"), "cpu", "fp32", 1000, ModelConfig(20), TrainConfig(steps=50), 260, 28, 0)
    assert "only 28 validation characters: their loss says little" in " ".join(run_view([few]).split())
    assert "validation characters" not in run_view([started()])  # 4,000


def test_an_interrupted_run_keeps_its_progress():
    screen = run_view([started(), Step(900, 1.2, 1e-4, 5000.0, 30.0, 0.5),
                       Finished(903, 30.2, 1.40, "interrupted", Path("checkpoints/screenplay"), 903)])
    last_panel = screen[screen.rindex("charnn train —"):].split("stopped (interrupted)")[0]
    assert re.search(r"step +903", last_panel) and "50.0%" in last_panel
    assert re.search(r"ETA +stopped", last_panel)  # not 0m00s: the budget was not used up


def test_a_budget_spent_before_the_first_step_says_nothing_was_trained():
    """A new-user trial: `--time 2s` ended `finished (time) at step 0` like any other run."""
    def screen_of(events) -> str:  # lines wrapped at words, read as one
        return " ".join(run_view(events).split())

    screen = screen_of([started(), Finished(0, 2.0, float("inf"), "time", Path("checkpoints/screenplay"), 0)])
    assert "before the first step: starting up took the whole budget; nothing was saved — give a longer --time" in (
        screen)
    screen = screen_of([started(), Finished(5, 2.0, 2.9, "time", Path("checkpoints/screenplay"), 5)])
    assert "before" not in screen and "finished (time) at step 5" in screen
    screen = screen_of([started(5, 2.9), Finished(5, 9.0, 2.9, "time", Path("checkpoints/screenplay"), 0)])
    assert "starting up took the time left; the run is as it was at step 5 — give a longer --time" in screen
    screen = screen_of([started(5, 2.9), Finished(5, 9.0, 2.8, "time", Path("checkpoints/screenplay"), 0, True)])
    assert "finished (time) at step 5 after 0m09s: nothing was left to train, so only its final eval ran" in screen
    assert "give a longer" not in screen


def test_a_file_name_fits_its_cells():
    from charnn.ui import file_name_in

    assert file_name_in("pycode.txt", 15) == "pycode.txt"
    assert file_name_in("tinyshakespeare.txt", 15) == "tinyshakespeare"  # its stem, where that fits
    assert file_name_in("averyveryverylongname.txt", 15) == "averyveryveryl…"
    assert file_name_in("日本語の長い名前のファイル.txt", 15) == "日本語の長い名…"  # 15 cells: 7 wide and '…'


def test_an_evals_line_fits_a_narrow_terminal():
    """A teacher's 80-column projector: each eval's line (~88 columns) put `eval 0.2s` alone on the next row. On a
    terminal the eval's time goes first, then the bpc; a log file keeps the whole line."""
    events = [started(), Step(224, 2.75, 1e-3, 31278.0, 1.0, 0.1),
              Evaluated(224, 2.0887, 3.013, 2.0887, True, "", 0.2, train_loss=2.7509)]

    def eval_lines(width: int, terminal: bool = True) -> list[str]:
        out = io.StringIO()
        with TrainView(Console(file=out, force_terminal=terminal, width=width, color_system=None)) as view:
            for event in events:
                view(event)
        return [line for line in ANSI.sub("", out.getvalue()).splitlines() if line.startswith("step ")]

    wide, eighty, narrow = eval_lines(100), eval_lines(80), eval_lines(70)
    assert wide == ["step     224  val 2.0887 nats (3.013 bpc) (best)  train 2.7509  31,278 chars/s  eval 0.2s"]
    assert eighty == ["step     224  val 2.0887 nats (3.013 bpc) (best)  train 2.7509  31,278 chars/s"]
    assert narrow == ["step     224  val 2.0887 nats (best)  train 2.7509  31,278 chars/s"]
    assert eval_lines(60, terminal=False)[0].endswith("eval 0.2s")


def test_validation_that_got_worse_at_the_end_is_explained():
    """A new-user trial's GRU was best at step 750 of 2,000 and worse at each eval after it; the run ended saying only
    `best val 0.1716`. For a learner, the summary now says what that means and what helps."""
    def evals(*losses):
        best, events = float("inf"), []
        for number, loss in enumerate(losses, 1):
            events.append(Evaluated(250 * number, loss, loss / 0.693, min(best, loss), loss < best, "", 0.1))
            best = min(best, loss)
        return [started(), *events, Finished(250 * len(losses), 60.0, best, "steps", Path("checkpoints/p"), 2000)]

    said = " ".join(run_view(evals(0.30, 0.20, 0.1716, 0.175, 0.1807)).split())
    assert ("validation was best at step 750; the 2 evals after it were worse (last 0.1807 nats (0.261 bpc)): the "
            "model began to fit its training text more than text like it (overfitting). best.pt keeps the best") in said
    assert "overfitting" not in run_view(evals(0.30, 0.20, 0.1716, 0.1720, 0.1730))  # a plateau
    assert "overfitting" not in run_view(evals(1.5, 1.3253, 1.33, 1.3566))  # the README's screenplay: 2.4%, quiet
    assert "overfitting" not in run_view(evals(0.30, 0.20, 0.1716, 0.1900))  # one eval: could be noise
    assert "overfitting" not in run_view(evals(0.30, 0.20, 0.19, 0.18))  # still improving
    # And where the last weights are: a teacher's 300-character corpus wanted what its model had learnt by heart.
    run = str(started().run_dir / "latest.pt")
    assert said.endswith(f"best.pt keeps the best, which `charnn sample` takes; latest.pt the last weights (what it "
                         f"learnt by heart: --checkpoint {run}); more --dropout or a smaller model may score better")
    # Dropout already high (a trial's 35 KB play: 1×128, dropout 0.4 from the preset): more of it is no advice.
    high = dataclasses.replace(started(), model_config=ModelConfig(60, dropout=0.4))
    events = evals(0.30, 0.20, 0.1716, 0.175, 0.1807)
    said = " ".join(run_view([high, *events[1:]]).split())
    assert said.endswith("more text to train on would help most")
    # Validation characters the training text never has (a trial's CJK and emoji, joined last): said first.
    out = io.StringIO()
    with TrainView(Console(file=out, force_terminal=True, width=100, color_system=None)) as view:
        view.unlearnable = 4200
        for event in events:
            view(event)
    said = " ".join(ANSI.sub("", out.getvalue()).split())
    assert said.endswith("smaller model may score better; and 4,200 characters of the validation text are ones the "
                         "training text never has (said at the start): no model learns those, so put some of that "
                         "text earlier in the file")


def test_emoji_in_the_preview_take_the_cells_rich_gave_them():
    """A new-user trial: 👨‍👩‍👧 (joined by U+200D) and 👍🏽 are one emoji of 2 cells to Rich 15, while tmux draws each
    part (6 and 4); every redraw of the panel then left a copy of its top border behind. Counted one character at a
    time, as such a terminal does, every line of the panel must be as wide as Rich laid it out."""
    sample = "ROMEO: party 👨\u200d👩\u200d👧 and 👍🏽, ☺\ufe0f\nJULIET: 🎉🐍 ok\n"
    screen = run_view([started(), Step(10, 1.2, 1e-4, 5000.0, 3.0, 0.05),
                       Evaluated(10, 1.5, 2.16, 1.5, True, sample, 0.1)])
    panel = screen[screen.rindex("charnn train —") - 2:].splitlines()
    assert "party 👨👩👧 and 👍, ☺" in screen and "\u200d" not in screen
    widths = {sum(cell_len(char) for char in line) for line in panel if line.startswith(("╭", "│", "╰"))}
    assert widths == {98}  # two columns short of the terminal: room for the "^C" a Ctrl-C echoes (render)


def test_a_resumed_run_shows_its_best_before_its_first_eval():
    screen = run_view([started(start_step=954, best=1.4013), Step(960, 1.2, 1e-4, 5000.0, 33.0, 0.3)])
    assert "1.4013 nats" in screen[screen.rindex("charnn train —"):]


def test_with_readline_on_a_terminal_readline_draws_the_prompt(monkeypatch):
    """So that it knows the prompt's width when it redraws a recalled line (Rich would print it itself)."""
    asked = []
    monkeypatch.setattr(builtins, "input", lambda prompt="": asked.append(prompt) or "ROMEO:")
    monkeypatch.setitem(sys.modules, "readline", sys.modules.get("readline") or object())
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    monkeypatch.setattr(ui.messages, "stderr", Console(file=io.StringIO(), force_terminal=True))
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert ui.ask("prime> ") == "ROMEO:"
    assert asked == ["\001\x1b[1m\002prime> \001\x1b[0m\002"]  # bold, marked as taking no width
    monkeypatch.setenv("NO_COLOR", "1")
    ui.ask("prime> ")
    assert asked[-1] == "prime> "
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False)  # text to a pipe: the prompt stays on stderr
    ui.ask("prime> ")
    assert len(asked) == 3 and "prime> " in ui.messages.stderr.file.getvalue()


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_auto_style_asks_the_model_only_where_its_answer_is_used(monkeypatch):
    """With `writes_script` saying yes, the first speaker is styled: text alone needs a few speaker lines
    before it reads as a script, and by then the first one is written plain."""
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    asked = []

    def answer(value: bool):
        return lambda: asked.append(value) or value

    out = Terminal()
    stream = ui.open_stream("auto", out, writes_script=answer(True))
    for char in "ROMEO:\nBut soft.\n":
        stream.write(char)
    stream.close()
    assert asked == [True] and out.getvalue().startswith("\x1b[") and ANSI.sub("", out.getvalue()).startswith(
        "ROMEO:\nBut soft.")
    out = Terminal()
    stream = ui.open_stream("auto", out, writes_script=answer(False))
    for char in "ROMEO:\nBut soft.\n":
        stream.write(char)
    assert asked == [True, False] and out.getvalue() == "ROMEO:\nBut soft.\n"  # plain until the text decides
    play = "HAMLET: To be.\nOPHELIA: My lord.\nHAMLET: Go.\n"
    assert ui.open_stream("auto", Terminal(), context=play, writes_script=answer(False)).active  # the prime decides
    ui.open_stream("plain", Terminal(), writes_script=answer(False))
    ui.open_stream("script", Terminal(), writes_script=answer(False))
    ui.open_stream("auto", io.StringIO(), writes_script=answer(False))  # a pipe: never styled
    monkeypatch.setenv("NO_COLOR", "1")
    ui.open_stream("auto", Terminal(), writes_script=answer(False))
    assert asked == [True, False]


def test_a_batch_sample_is_styled_from_its_first_speaker(monkeypatch):
    """Found by a new-user trial: each sample of --num-samples was detected on its own as it was written, so
    its first speakers (and all of a short sample) stayed plain; the caller now decides once, on all of them."""
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    play = "ROMEO:\nHi.\nJULIET:\nHo.\n" * 2
    for script_like in (True, False):
        out = Terminal()
        monkeypatch.setattr(sys, "stdout", out)
        ui.show_text(play, "auto", script_like)
        assert ANSI.sub("", out.getvalue()) == play
        assert ("\x1b[" in out.getvalue()) == script_like  # not styled part-way through by detection either


def test_the_status_line_is_drawn_when_the_text_goes_to_a_file_but_not_into_a_pipe(tmp_path, monkeypatch):
    """A new-user trial: `charnn sample | cat` on a terminal, the status redrawn under the text that cat wrote to the
    same terminal erased the line being written and left `2×192 LSTM · temp 0.8 · 13,032 c` in it."""
    import os

    from charnn.ui import sampling

    monkeypatch.setattr(sampling, "stderr", Console(file=io.StringIO(), force_terminal=True))
    read, write = os.pipe()
    with open(write, "w") as pipe, open(tmp_path / "out.txt", "w") as file:
        for out, shown in ((pipe, False), (file, True), (io.StringIO(), False)):
            monkeypatch.setattr(sys, "stdout", out)
            assert (sampling.SampleStatus(sampling.PlainStream(out), "2×8 LSTM", 0.8, 10).live is not None) == shown
    os.close(read)


def test_the_closing_line_starts_a_line_of_its_own_after_text_piped_to_the_terminal(tmp_path, monkeypatch):
    """`charnn sample | cat` ended `…RUTH\\nWha600 chars in 0.05s` (tmux): the text's last line is cat's, on this
    terminal, and had no line break."""
    import os

    from charnn.ui import sampling

    read, write = os.pipe()
    with open(write, "w") as pipe, open(tmp_path / "out.txt", "w") as file:
        for out, open_line, starts_a_line in ((pipe, True, True), (pipe, False, False), (file, True, False)):
            screen = io.StringIO()
            monkeypatch.setattr(sampling, "stderr", Console(file=screen, force_terminal=True))
            monkeypatch.setattr(sampling, "info", lambda message, screen=screen: screen.write(message + "\n"))
            monkeypatch.setattr(sys, "stdout", out)
            sampling.sample_footer(600, 0.05, 9, open_line)
            assert screen.getvalue().startswith("\n") == starts_a_line and "600 chars in 0.05s" in screen.getvalue()
        screen = io.StringIO()
        monkeypatch.setattr(sampling, "info", lambda message: screen.write(message + "\n"))
        sampling.sample_footer(1, 0.05, 9, False)
        assert "1 char in 0.05s" in screen.getvalue()  # not "1 chars" (a trial)
    os.close(read)


def test_a_narrow_terminal_gets_one_figure_a_row_with_whole_labels():
    """A new-user trial at 40 columns: the panel's labels were cut to `elaps…` and `learn…`."""
    events = [started(), Step(1840, 1.2345, 1.23e-4, 35496.0, 59.7, 0.995),
              Evaluated(1840, 8.5172, 12.288, 1.3969, True, "JONAH\nHello.", 0.1)]
    for width in (40, 60, 84, 100):
        out = io.StringIO()
        with TrainView(Console(file=out, force_terminal=True, width=width, color_system=None)) as view:
            for event in events:
                view(event)
        panel = ANSI.sub("", out.getvalue())
        panel = panel[panel.rindex("charnn train —"):]
        assert "…" not in panel and "elapsed" in panel and "learning rate" in panel
        assert ("train loss" in next(line for line in panel.splitlines() if "step " in line)) == (width >= 84)
        if width >= 60:  # a loss of 8.5 nats (a vocabulary of thousands, at the start) on one line
            assert "8.5172 nats (12.288 bpc)" in panel


class GrowingRows:
    """A batch's rows (batch_rows.BatchRows) as `position` grows, from their final texts: rows in `stopped` end at their
    last character (their --stop), the others run on to the batch's end."""

    def __init__(self, texts: list[str], stopped: tuple[int, ...] = ()):
        self.texts, self.stopped, self.position = texts, stopped, 0
        self.num_samples, self.seeds = len(texts), None

    @property
    def ends(self) -> list[int | None]:
        return [len(text) if row in self.stopped and self.position >= len(text) else None
                for row, text in enumerate(self.texts)]

    def text(self, row: int, start: int = 0) -> str:
        return self.texts[row][start:self.position]


def test_a_batch_on_stdout_is_the_file_output_writes(capsys):
    """Found in review: a sample of just "\n" (`--stop '\n'`) got two blank lines after it on the screen, one in the
    file. Streamed as the batch grows or written at its end, stdout gets the file's bytes."""
    for texts in [["\n", "two"], ["", "x"], ["a\n\n", "b"], ["a", "b\n"], ["x\n", "\n", ""]]:
        for streamed in (False, True):
            rows = GrowingRows(texts, stopped=tuple(range(len(texts))))
            with ui.BatchStream(rows, "auto", "", None, "2×8 LSTM", 0.8, 10) as shown:
                for position in range(1, 4) if streamed else ():
                    rows.position = position
                    shown.update(position)
                shown.finish(texts)
            assert capsys.readouterr().out == documents.output_text(texts, "", False), (texts, streamed)
    for texts in [["only"], ["\n", "two"]]:
        ui.show_fountain(texts, "", "auto")
        assert capsys.readouterr().out == documents.output_text(texts, "", True)


def test_a_batch_streams_its_first_sample_while_it_is_made(capsys):
    """`--num-samples` showed nothing until the whole batch was made. Now the first sample streams under its header;
    when it ends (its --stop), the next one's text so far comes at once, and that one streams on."""
    texts = ["abc", "wxyz", "123456"]
    rows = GrowingRows(texts, stopped=(0, 1))
    seen = []
    with ui.BatchStream(rows, "auto", "", None, "2×8 LSTM", 0.8, 6) as shown:
        for position in range(1, 7):
            rows.position = position
            shown.update(position)
            seen.append(capsys.readouterr().out)
        shown.finish(texts)
    assert seen[0] == "── sample 1/3 ──\na" and seen[1] == "b"
    assert seen[2] == "c\n\n── sample 2/3 ──\nwxy"  # sample 1 ended at its stop: sample 2 so far, at once
    assert seen[3] == "z\n\n── sample 3/3 ──\n1234" and seen[4:] == ["5", "6"]
    assert capsys.readouterr().out == "\n"  # the end: the last sample's line is closed


def test_a_streamed_batch_styles_its_samples_as_one_stream_would(monkeypatch):
    """The first sample's style is decided as one stream's is (the prime, or unseen trial samples); a later one is
    styled from its first character if the first was, or once the text so far reads as a script. Off the styles,
    every sample is the text a file gets."""
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    play, prose = ["ROMEO:\nHi.\n", "JULIET:\nHo.\n", "NURSE:\nAnon!"], ["Once upon a time.\n", "The end.\n", "Yes."]
    for texts, trial, styled in ((play, True, [True] * 3), (play, False, [False, False, True]),
                                 (prose, False, [False] * 3)):
        out = Terminal()
        monkeypatch.setattr(sys, "stdout", out)
        rows = GrowingRows(texts, stopped=(0, 1))
        with ui.BatchStream(rows, "auto", "", lambda trial=trial: trial, "2×8 LSTM", 0.8, 20) as shown:
            for position in range(1, 20):
                rows.position = position
                shown.update(position)
            shown.finish(texts)
        samples = out.getvalue().split("── sample ")[1:]
        assert ANSI.sub("", out.getvalue()) == documents.output_text(texts, "", False)
        assert [sample.split("\n", 1)[1].startswith("\x1b[") for sample in samples] == styled, (texts, trial)


def test_after_a_ctrl_c_into_a_pipe_stderr_starts_a_line_of_its_own(tmp_path, monkeypatch):
    """A new-user trial: `charnn sample | cat`, Ctrl-C: `…him sta^Cinterrupted (seed 2)` (the terminal echoes ^C after
    the text cat wrote to it)."""
    import os

    from charnn.ui import sampling

    read, write = os.pipe()
    with open(write, "w") as pipe, open(tmp_path / "out.txt", "w") as file:
        for out, line_break in ((pipe, "\n"), (file, ""), (Terminal(), "")):
            screen = io.StringIO()
            monkeypatch.setattr(sampling, "stderr", Console(file=screen, force_terminal=True))
            monkeypatch.setattr(sys, "stdout", out)
            ui.end_piped_line(open_line=True)
            assert screen.getvalue() == line_break
    os.close(read)


def test_the_footer_waits_for_the_reader_of_a_pipe(tmp_path):
    """`charnn sample | cat`: the footer went to the terminal before cat had written the text's end (11 of 14 runs
    of a new-user trial). It waits until the pipe is read, or a while at most; a file is not waited for."""
    import os
    import threading
    import time

    from charnn.ui.terminal import wait_for_reader

    read, write = os.pipe()
    with open(write, "w") as pipe:
        pipe.write("the text's end")
        reader = threading.Timer(0.15, lambda: os.read(read, 100))
        started = time.monotonic()
        reader.start()
        wait_for_reader(pipe, seconds=2.0)
        assert 0.14 <= time.monotonic() - started < 1.5  # until the reader had read it
        reader.join()
        pipe.write("unread")
        started = time.monotonic()
        wait_for_reader(pipe, seconds=0.2)  # nobody reads: at most the time given
        assert 0.19 <= time.monotonic() - started < 1.0
    os.close(read)
    with open(tmp_path / "file.txt", "w") as file:
        file.write("text")
        started = time.monotonic()
        wait_for_reader(file, seconds=2.0)
        assert time.monotonic() - started < 0.1


def test_training_on_fewer_threads_is_said_once_and_shown_with_the_speed():
    event = Started(Path("checkpoints/screenplay"), "cpu", "fp32", 1000, ModelConfig(60), TrainConfig(time_budget=60.0),
                    40_000, 4_000, 0, float("inf"), 2)
    screen = run_view([event, Step(10, 2.0, 1e-3, 9000.0, 1.0, 0.1, 2), Step(20, 1.9, 1e-3, 5000.0, 2.0, 0.2, 1),
                       Step(30, 1.8, 1e-3, 5100.0, 3.0, 0.3, 1)])
    assert screen.count("training goes on with 1 of 2 threads, faster just now (another program may be busy") == 1
    assert "5,100 chars/s (1 thread)" in screen
    assert "(1 thread)" not in run_view([event, Step(10, 2.0, 1e-3, 9000.0, 1.0, 0.1, 2)])
    assert "goes on with" not in run_view([started(), Step(10, 2.0, 1e-3, 9000.0, 1.0, 0.1)])


def test_a_prime_that_ends_its_line_is_shown_above_the_text(monkeypatch):
    """A trial's lyrics: `--prime "[Chorus]\\n"` showed nothing of the prime, its last line being empty. Its last line
    with text comes first now, dim, then its line breaks (two at most); in a batch, a later sample's too (not the
    sample before it, which its context holds)."""
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    for prime, context, shown in [("Verse one\n[Chorus]\n", None, "[Chorus]\n"),
                                  ("[Chorus]\n\n\n", None, "[Chorus]\n\n"),
                                  ("[Chorus]\n   \n", None, "[Chorus]\n\n"), ("[Chorus]\r\n\r\n", None, "[Chorus]\n\n"),
                                  ("[Chorus]\n  ", None, "[Chorus]\n  "),
                                  ("[Bridge]\n", "the sample before\n\n[Bridge]\n", "[Bridge]\n"),
                                  ("\n\n", "the sample before\n\n\n\n", "")]:
        out = Terminal()
        stream = ui.open_stream("plain", out, context=context or prime, prime=prime)
        stream.show_context()
        assert ANSI.sub("", out.getvalue()) == ""  # --style plain: nothing of the prime, as before
        stream = ui.open_stream("auto", out, context=context or prime, prime=prime, writes_script=lambda: False)
        stream.show_context()
        for char in "la la\n":
            stream.write(char)
        stream.close()
        assert ANSI.sub("", out.getvalue()) == shown + "la la\n"
        assert stream.context_shown == (not prime.endswith("\n"))  # a line of spaces is shown: the text goes on it
        assert out.getvalue().startswith(stream.ansi("dim")[0]) == bool(shown)


def test_a_prime_shown_above_a_later_batch_sample_moves_the_status_row_down():
    """A review: the status row shown under a batch's header is erased before the prime's line and its break are
    written (they would land on it), and drawn again under the new row."""
    from charnn.ui.script_stream import ScriptStream
    from charnn.ui.status_row import BACK, UNDER

    out, status_out = Terminal(), Terminal()
    status = Console(file=status_out, force_terminal=True, width=80, color_system=None)
    stream = ScriptStream(out, Console(file=out, force_terminal=True), status=status)
    stream.status_text = "2×384 LSTM · 9,000 chars/s"
    stream.draw_status()
    assert stream.status_shown
    stream.above, shown = ("[Chorus]", 1), len(status_out.getvalue())
    stream.show_context()
    after = status_out.getvalue()[shown:]
    assert after.startswith(UNDER + "\x1b[2K" + BACK) and after.count("9,000 chars/s") == 1  # erased, then drawn
    assert ANSI.sub("", out.getvalue()) == "[Chorus]\n" and stream.status_shown


def test_an_evals_line_gives_the_mean_speed_since_the_eval_before_it():
    """The last window's speed alone read 32,877 chars/s at an eval beside ~55,000 at the next ones (the thread
    tuner's one-thread try): the line now gives training's mean since the eval before, while the panel shows the last
    window's."""
    def plain_lines(events) -> list[str]:  # stderr not a terminal: one line per eval
        out = io.StringIO()
        with TrainView(Console(file=out, force_terminal=False, width=200)) as view:
            for event in events:
                view(event)
        return out.getvalue().splitlines()

    chars = 16 * 64 * 10  # ten steps of TrainConfig's batch
    assert (started().config.batch_size, started().config.seq_len) == (16, 64)
    events = [started(), Step(10, 2.0, 1e-3, 9000.0, 1.0, 0.1), Step(20, 1.9, 1e-3, 3000.0, 2.0, 0.2),
              Evaluated(20, 1.8, 2.6, 1.8, True, "", 0.1)]
    screen = plain_lines(events)
    assert f"{2 * chars / (chars / 9000 + chars / 3000):,.0f} chars/s" == "4,500 chars/s"
    assert "4,500 chars/s  eval 0.1s" in screen[-1]
    later = plain_lines(events + [Step(30, 1.7, 1e-3, 6000.0, 3.0, 0.3), Evaluated(30, 1.7, 2.5, 1.7, True, "", 0.1)])
    assert "6,000 chars/s  eval" in later[-1]  # from the eval before on, not the run's start
    assert "train 1.9000" in screen[-1]  # no mean given: the last window's
    # The mean since the eval before, as metrics.jsonl has it, where the event gives it: not the last window's 1.7.
    mean = plain_lines(events + [Step(30, 1.7, 1e-3, 6000.0, 3.0, 0.3),
                                 Evaluated(30, 1.65, 2.38, 1.65, True, "", 0.1, train_loss=1.8123)])
    assert "train 1.8123  " in mean[-1] and "1.7000" not in mean[-1]


def test_info_wraps_a_long_value_between_words_on_a_terminal_and_not_in_a_pipe():
    """A trial at 50 columns: `charnn info`'s lines broke mid-word (`--checkp` / `oint`)."""
    from charnn.ui.messages import show_info

    rows = [("checkpoint", "checkpoints/bundled/best.pt"),
            ("step files", "step-00001000.pt, step-00002000.pt, step-00003000.pt (--checkpoint checkpoints/x)")]
    terminal, pipe = io.StringIO(), io.StringIO()
    show_info(rows, Console(file=terminal, force_terminal=True, width=50, color_system=None, highlight=False))
    show_info(rows, Console(file=pipe, width=50, highlight=False))
    lines = terminal.getvalue().splitlines()
    assert lines == ["checkpoint  checkpoints/bundled/best.pt", "step files  step-00001000.pt, step-00002000.pt,",
                     "            step-00003000.pt (--checkpoint", "            checkpoints/x)"]
    assert pipe.getvalue().splitlines()[1] == "step files  " + rows[1][1]
    wide = io.StringIO()  # by cells: each of 日本語 takes two
    show_info([("trained on", "日本語の小説 ×8 日本語の小説 日本語の小説 日本語の小説")],
              Console(file=wide, force_terminal=True, width=50, color_system=None, highlight=False))
    assert [cell_len(line) for line in wide.getvalue().splitlines()] == [40, 37]  # of at most 50


def test_a_table_wider_than_the_terminal_is_shown_a_row_a_paragraph():
    """`charnn info checkpoints` at a trial's 50 columns: each run's line broke in two, mid-word (`param` / `s`). Too
    wide for the terminal, a row is a paragraph of `header value` pairs, each kept whole; a pipe keeps the table."""
    from charnn.ui.messages import show_table

    rows = [("checkpoints/", "model", "params", "trained on", "step", "best val", "time"),
            ("a-very-long-run-name-for-testing", "1×32 LSTM", "0.02M", "corpus.txt", "30", "3.4748", "0m08s"),
            ("broken", "not readable: checkpoints/broken/best.pt is not a readable checkpoint (truncated)")]
    narrow, wide, pipe = io.StringIO(), io.StringIO(), io.StringIO()
    show_table(rows, Console(file=narrow, force_terminal=True, width=50, color_system=None, highlight=False))
    show_table(rows, Console(file=wide, force_terminal=True, width=120, color_system=None, highlight=False))
    show_table(rows, Console(file=pipe, width=50, highlight=False))
    assert narrow.getvalue().splitlines() == [
        "checkpoints/", "a-very-long-run-name-for-testing", "  model 1×32 LSTM · params 0.02M ·",
        "  trained on corpus.txt · step 30 ·", "  best val 3.4748 · time 0m08s", "broken",
        "  not readable: checkpoints/broken/best.pt is not", "  a readable checkpoint (truncated)"]
    table = wide.getvalue().splitlines()
    assert table == pipe.getvalue().splitlines() and len(table) == 3 and max(map(len, table)) > 50
    assert table[1].split() == ["a-very-long-run-name-for-testing", "1×32", "LSTM", "0.02M", "corpus.txt", "30",
                                "3.4748", "0m08s"]


def test_errors_and_information_wrap_between_words_on_a_terminal_only(monkeypatch):
    """A trial at 50 columns: `…is not a readable ch` / `eckpoint …refu` / `sed`. A file or pipe gets one line."""
    from charnn.ui import messages

    message = "dl2/best.pt is not a readable checkpoint (truncated or corrupt) — use another one, such as dl2/latest.pt"
    for terminal in (True, False):
        out = io.StringIO()
        monkeypatch.setattr(messages, "stderr", Console(file=out, force_terminal=terminal, width=50, highlight=False,
                                                        color_system=None))
        messages.error(message)
        messages.info(message)
        lines = out.getvalue().splitlines()
        if terminal:
            assert len(lines) > 2 and all(cell_len(line) <= 50 for line in lines)
            assert " ".join(line.rstrip() for line in lines) == f"error: {message} {message}"  # only at spaces
        else:
            assert lines == [f"error: {message}", message]
