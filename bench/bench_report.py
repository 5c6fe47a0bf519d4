"""The end of the bench/*.py comparisons: the report's lines and its one RESULT line, printed and, with
--out FILE, written there (bench/README.md: every benchmark ends in `RESULT NAME key=value ...`)."""


def finish(name, lines, result, out=None):
    lines.append(f"RESULT {name} " + " ".join(f"{k}={v}" for k, v in result.items()))
    report = "\n".join(lines)
    print(report, flush=True)
    if out:
        with open(out, "w") as f:
            f.write(report + "\n")
