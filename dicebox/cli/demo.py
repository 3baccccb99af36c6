"""``dicebox demo``: the whole system end to end, headless (or with ``--gui``)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from dicebox.cli import UsageError
from dicebox.cli.signals import on_stop_signals


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {value}")
    return value


def register(subparsers) -> None:
    parser = subparsers.add_parser("demo", help="run the whole system end to end with the synthetic dice camera")
    parser.add_argument("--out", help="folder for everything the demo makes (default: ./dicebox-demo-<time>)")
    parser.add_argument("--per-face", type=_positive, default=600, help="frames recorded per face (default 600)")
    parser.add_argument("--scenes", type=_positive, default=100,
                        help="camera scenes (lighting, background, die) the frames are taken from (default 100)")
    parser.add_argument("--misclassified", type=_non_negative, default=40,
                        help="misclassified frames kept per face in the second pass (default 40; 0: skip)")
    parser.add_argument("--generations", type=_positive, default=3, help="generations (default 3)")
    parser.add_argument("--population", type=_positive, default=4, help="networks per generation (default 4)")
    parser.add_argument("--epochs", type=_positive, default=2, help="epochs per network while evolving (default 2)")
    parser.add_argument("--final-epochs", type=_positive, default=25, help="epochs for the champion (default 25)")
    parser.add_argument("--test-frames", type=_positive, default=600, help="fresh frames classified (default 600)")
    parser.add_argument("--processes", type=_positive, default=1, help="local training processes while evolving")
    parser.add_argument("--max-parameters", type=_positive, default=600_000,
                        help="largest network the evolution may try (default 600,000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the camera, the evolution and training")
    parser.add_argument("--gui", action="store_true", help="run it with the window open, to watch")
    parser.add_argument("--close-when-done", action="store_true",
                        help="with --gui: close the window when the demo ends (for scripts and checks)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dicebox.demo.report import write_report
    from dicebox.demo.run import Demo, DemoOptions, DemoStopped

    out = Path(args.out or f"dicebox-demo-{time.strftime('%Y%m%d-%H%M%S')}").resolve()
    if out.exists() and any(out.iterdir()):
        raise UsageError(f"{out} exists and is not empty: choose another --out")
    options = DemoOptions(out=out, per_face=args.per_face, scenes=args.scenes, misclassified_per_face=args.misclassified,
                          generations=args.generations, population=args.population, epochs=args.epochs,
                          final_epochs=args.final_epochs, test_frames=args.test_frames, seed=args.seed,
                          max_parameters=args.max_parameters,
                          processes=args.processes)
    if args.gui:
        from dicebox.cli.gui import check_display
        from dicebox.gui.demo_window import run_demo_with_window

        check_display()

        return run_demo_with_window(options, close_when_done=args.close_when_done)
    demo = Demo(options)

    def terminate(_signum: int) -> None:
        raise KeyboardInterrupt  # SIGTERM stops it as cleanly as Ctrl-C

    on_stop_signals(terminate)
    try:
        result = demo.run()
    except (DemoStopped, KeyboardInterrupt):
        print(f"dicebox: demo stopped; what it made so far is in {out}", file=sys.stderr)
        return 130
    files = write_report(result, options)
    print()
    print(f"accuracy on {sum(map(sum, result.confusion))} fresh frames: {result.accuracy:.1%} "
          f"({result.frames_per_second:.0f} frames/s through the classification route)")
    print("per face: " + "  ".join(f"{face}: {acc:.0%}" for face, acc in result.per_class.items()))
    print(f"done in {result.seconds:.0f} s. Everything is in {out}:")
    print(f"  data set        {out / 'data' / 'datasets'}")
    print(f"  population      {result.run_dir}")
    print(f"  champion bundle {result.bundle}")
    for path in files:
        print(f"  {path.name:<15} {path}")
    return 0
