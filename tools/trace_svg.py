#!/usr/bin/env python3
"""Draws a Chrome trace written by plait (model.write_trace, or a planned schedule) as an SVG picture:
one row per device and row (compute, communication), time left to right, one box per instruction,
coloured by what it does (or by micro-batch with --by microbatch). A split backward's parts are
labelled B (backward_input, the gradient sent back) and W (backward_weight, drawn paler).

    tools/trace_svg.py TRACE.json OUT.svg [--by kind|microbatch] [--last-step] [--title TEXT]
"""
import argparse
import html
import json
import re

KIND_COLOURS = {"scatter": "#9e9e9e", "forward": "#4c78a8", "loss": "#b279a2", "backward": "#f58518",
                "backward_input": "#f58518", "backward_weight": "#ffbf79",
                "all_reduce": "#e45756", "reduce_scatter": "#e45756", "all_gather": "#72b7b2",
                "send": "#54a24b", "recv": "#54a24b", "optimizer_step": "#59a14f"}
PALETTE = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#eeca3b", "#b279a2", "#ff9da6",
           "#9d755d", "#bab0ac"]


def load(path):
    with open(path) as f:
        data = json.load(f)
    events = data["traceEvents"] if isinstance(data, dict) else data
    names, rows, boxes = {}, {}, []
    for e in events:
        if e.get("ph") == "M" and e.get("name") == "process_name":
            names[("p", e["pid"])] = e["args"]["name"]
        elif e.get("ph") == "M" and e.get("name") == "thread_name":
            names[("t", e["pid"], e["tid"])] = e["args"]["name"]
        elif e.get("ph") == "X":
            boxes.append(e)
            rows[(e["pid"], e["tid"])] = True
    return names, sorted(rows), boxes


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("trace")
    ap.add_argument("out")
    ap.add_argument("--by", choices=["kind", "microbatch"], default="kind")
    ap.add_argument("--last-step", action="store_true", help="draw only the last recorded step")
    ap.add_argument("--title", default="")
    args = ap.parse_args()
    names, rows, boxes = load(args.trace)
    # Rows in the order of their device's name ("device 0, stage 2" after "device 0, stage 0"): the
    # stages of a device that take turns on it next to each other.
    def by_name(row):
        name = names.get(("p", row[0]), f"device {row[0]}")
        return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)], row[1]

    if args.last_step:
        last = max(b.get("args", {}).get("step", -1) for b in boxes)
        boxes = [b for b in boxes if b.get("args", {}).get("step", -1) == last]
        rows = {(b["pid"], b["tid"]) for b in boxes}
    rows = sorted(rows, key=by_name)
    t0 = min(b["ts"] for b in boxes)
    t1 = max(b["ts"] + b["dur"] for b in boxes)
    label_w, width, row_h, top = 240, 1150, 28, 40
    scale = (width - label_w - 20) / max(t1 - t0, 1e-9)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{top + row_h * len(rows) + 60}" '
           f'font-family="sans-serif" font-size="12">',
           '<rect width="100%" height="100%" fill="white"/>',
           f'<text x="10" y="22" font-size="14">{html.escape(args.title)}</text>']
    for i, (pid, tid) in enumerate(rows):
        y = top + i * row_h
        label = f'{names.get(("p", pid), f"device {pid}")} / {names.get(("t", pid, tid), str(tid))}'
        out.append(f'<text x="10" y="{y + 18}">{html.escape(label)}</text>')
        out.append(f'<line x1="{label_w}" y1="{y + row_h - 2}" x2="{width - 20}" y2="{y + row_h - 2}" stroke="#eee"/>')
    index = {r: i for i, r in enumerate(rows)}
    for b in boxes:
        y = top + index[(b["pid"], b["tid"])] * row_h
        x = label_w + (b["ts"] - t0) * scale
        w = max(b["dur"] * scale, 0.5)
        mb = b.get("args", {}).get("microbatch", -1)
        kind = b["name"].split(" ")[0]
        by_mb = args.by == "microbatch" and mb >= 0 and kind in ("forward", "backward", "backward_input",
                                                                  "backward_weight", "send", "recv", "loss")
        colour = PALETTE[mb % len(PALETTE)] if by_mb else KIND_COLOURS.get(kind, "#888")
        pale = ' fill-opacity="0.5"' if by_mb and kind == "backward_weight" else ""
        out.append(f'<rect x="{x:.2f}" y="{y + 3}" width="{w:.2f}" height="{row_h - 8}" fill="{colour}"{pale} '
                   f'stroke="white" stroke-width="0.5"><title>{html.escape(b["name"])}: {b["dur"]:.1f} us</title></rect>')
        if w > 40 or (by_mb and w > 14):
            letter = {"forward": "F", "backward": "B", "backward_input": "B", "backward_weight": "W"}.get(kind, "")
            text = (letter + f"{mb}") if by_mb else b["name"]
            fill = "#333" if pale else "white"
            out.append(f'<text x="{x + 3:.2f}" y="{y + 18}" fill="{fill}" font-size="10">{html.escape(text[: max(int(w / 6), 2)])}</text>')
    y = top + len(rows) * row_h + 20
    out.append(f'<text x="{label_w}" y="{y}">0 us</text>')
    out.append(f'<text x="{width - 20}" y="{y}" text-anchor="end">{t1 - t0:.0f} us</text>')
    if args.by == "kind":
        x = label_w
        for kind, colour in KIND_COLOURS.items():
            if any(b["name"].startswith(kind) for b in boxes):
                out.append(f'<rect x="{x}" y="{y + 10}" width="12" height="12" fill="{colour}"/>'
                           f'<text x="{x + 16}" y="{y + 21}">{kind}</text>')
                x += 30 + 7 * len(kind)
    out.append("</svg>")
    with open(args.out, "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
