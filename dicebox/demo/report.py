"""The demo's report: a short text and PNG plots (accuracy per generation, confusion matrix)."""

from __future__ import annotations

from pathlib import Path

from dicebox.camera import DICE_FACES


def write_report(result, options) -> list[Path]:
    """Write report.txt, accuracy.png and confusion.png into the demo folder; returns their paths."""
    out = result.out
    lines = [
        "dicebox demo report",
        "===================",
        f"folder:                 {out}",
        f"frames recorded:        {result.recorded} (+{result.misclassified_kept} misclassified, second pass)",
        f"evolution:              {options.population} networks x {options.generations} generations, "
        f"{options.epochs} epochs each",
        f"population files:       {result.run_dir}",
        f"champion bundle:        {result.bundle}",
        f"champion (evolution):   validation accuracy {result.champion_validation_accuracy or 0:.3f}",
        f"champion genome:        {result.champion_genome}",
        _contribution(result),
        "",
        f"fresh synthetic frames classified through /api/v1/classify: {sum(map(sum, result.confusion))}",
        f"accuracy:               {result.accuracy:.3f}",
        f"frames per second:      {result.frames_per_second:.1f}",
        "per class:              " + "  ".join(f"{face}: {acc:.2f}" for face, acc in result.per_class.items()),
        "",
        "generation   best    average  failed",
    ]
    for g in result.generations:
        best = "-" if g["best"] is None else f"{g['best']:.3f}"
        average = "-" if g["average"] is None else f"{g['average']:.3f}"
        lines.append(f"{g['generation']:>10}   {best:>5}   {average:>7}  {g['failed']:>6}")
    lines += ["", "confusion matrix (rows: true face, columns: predicted):",
              "      " + " ".join(f"{face:>5}" for face in DICE_FACES)]
    for face, row in zip(DICE_FACES, result.confusion, strict=False):
        lines.append(f"{face:>5} " + " ".join(f"{n:>5}" for n in row))
    lines.append(f"\ntook {result.seconds:.0f} s")
    report = out / "report.txt"
    report.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return [report, *_plots(result)]


def _contribution(result) -> str:
    """What the evolution added over the hand-written dice CNN that seeds it, on the same fresh frames."""
    frames = sum(map(sum, result.confusion))
    if result.seeded_accuracy is None:
        return "evolution's contribution: not measured"
    if result.champion_is_seeded:
        return (f"evolution's contribution: none - the champion is the seeded dice CNN "
                f"({result.seeded_accuracy:.3f} on the {frames} fresh frames)")
    return (f"evolution's contribution: champion {result.accuracy:.3f} vs the seeded dice CNN "
            f"{result.seeded_accuracy:.3f} ({result.accuracy - result.seeded_accuracy:+.3f}), each trained "
            f"the same way and classifying the same {frames} fresh frames")


def _plots(result) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = result.out
    generations = [g["generation"] for g in result.generations]
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=110)
    ax.plot(generations, [g["best"] or 0 for g in result.generations], "o-", label="best")
    ax.plot(generations, [g["average"] or 0 for g in result.generations], "s--", label="average")
    ax.axhline(result.accuracy, color="tab:green", linestyle=":", label=f"final, fresh frames ({result.accuracy:.1%})")
    ax.set_xlabel("generation")
    ax.set_ylabel("validation accuracy")
    ax.set_ylim(0, 1.02)
    ax.set_xticks(generations)
    ax.set_title("Evolution of the dice classifier")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    accuracy_png = out / "accuracy.png"
    fig.savefig(accuracy_png)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(4.6, 4.2), dpi=110)
    matrix = result.confusion
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(DICE_FACES)), DICE_FACES)
    ax.set_yticks(range(len(DICE_FACES)), DICE_FACES)
    ax.set_xlabel("predicted face")
    ax.set_ylabel("true face")
    biggest = max(max(row) for row in matrix) or 1
    for i, row in enumerate(matrix):
        for j, n in enumerate(row):
            ax.text(j, i, str(n), ha="center", va="center", color="white" if n > biggest / 2 else "black")
    ax.set_title(f"Fresh frames: {result.accuracy:.1%} right")
    fig.tight_layout()
    confusion_png = out / "confusion.png"
    fig.savefig(confusion_png)
    plt.close(fig)
    return [accuracy_png, confusion_png]
