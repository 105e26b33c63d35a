#!/usr/bin/env python3
"""The web page in a real browser: Debian's Chromium, headless, WebGPU on SwiftShader, driven
by Playwright (its own browser download is not used).

For each device the page offers (WebGPU, and the CPU fallback) it opens the built page with
`?lesson=run`, which trains the micro model in the tab, and checks that:
- the app starts and draws (a screenshot that is not blank);
- the console has no errors and the page threw none;
- the loss goes down, and every step's loss and gradient norm equals the desktop's CPU run of
  the same lesson (`beyond lesson --device cpu --json`) within 1e-3;
- the trained model comes out as a download (`&save=zip`): a zip of one HF checkpoint folder
  whose config and tokenizer are the desktop's and whose every weight equals the desktop's
  (`beyond lesson --save DIR`) within 1e-3;
- the trained model continues a prompt in the page (`&prompt=TEXT`, greedy) with the very tokens
  the desktop's model writes (`beyond lesson --prompt TEXT`);
- the world's benchmark put to the trained model in the page (`&ask=N`, N questions per subject)
  scores every option as the desktop does (`beyond lesson --ask --questions N`) within 1e-3, and
  picks the same answers;
- the trained model's perplexity on the world's held-out English and Chinese documents
  (`&perplexity=1`) is the desktop's (`beyond lesson --perplexity`) within 1e-3;
- on WebGPU the lesson trained on the GPU when the browser gave an adapter, on the device the
  page draws with;
- the tab kept drawing: the longest main-thread task and the gaps between animation frames.

The benchmark's report is downloaded with a click on its button and must be what the page
reported.

Then it opens the token microscope (`?page=microscope`), clicks its Open button for the second
tokenizer as a person would, gives the browser's file picker the lesson's `tokenizer.json`, and
checks that both tokenizers loaded (LLaMA-2's, fetched beside the page, and the picked one).

Then the Playground (`?page=playground`): the desktop's saved lesson model, its four files given
through the browser's file picker after a click on Open…, loads on the CPU backend, continues
the prompt with the desktop's very tokens and measures the built-in English UDHR text as
`beyond eval perplexity` does on the repository's file (within 1e-3).

Then the vocabulary lab (`?page=vocabulary`): LLaMA-2's tokenizer on built-in UDHR samples in
four scripts, extended by tokens learned from the Chinese one, and a sweep of extension sizes.
Its analysis, extension and sweep must equal the desktop's (`beyond vocab analyze|extend|sweep
--json` on the repository's UDHR files), and the extended tokenizer downloaded with a click must
be, byte for byte, the file `beyond vocab extend` writes.

Usage: browser_test.py --dist web/dist --beyond target/debug/beyond --steps N --out DIR [--rounds R]
Each round runs the desktop's lesson (`beyond lesson --device cpu --json`) and then the page on
each device, so speeds are measured side by side; with several rounds the summary gives each
one's median training speed and its range. Writes DIR/page-DEVICE.png and DIR/results.json;
exits non-zero on any failure.
"""

import argparse
import array
import functools
import http.server
import json
import pathlib
import statistics
import struct
import subprocess
import sys
import threading
import urllib.parse
import zipfile

from PIL import Image
from playwright.sync_api import sync_playwright

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--enable-unsafe-webgpu",
    "--enable-features=Vulkan",
    "--use-vulkan=swiftshader",
    "--use-angle=swiftshader",
]

# Records, from the first script on, the main thread's long tasks (a frozen tab is one long
# task: nothing else runs, no input is taken) and the time between animation frames (which also
# waits for the GPU process: on SwiftShader, compiling a compute shader holds frames back).
FRAME_RECORDER = """
window.__frameGaps = [];
window.__longTasks = [];
(() => {
  let last = performance.now();
  const tick = (t) => { window.__frameGaps.push(t - last); last = t; requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) window.__longTasks.push(e.duration);
  }).observe({ type: "longtask", buffered: true });
})();
"""

# The longest the main thread may be busy at once. On the CPU the lesson yields after every part
# of a step (about 10 ms each for the micro model). On SwiftShader's WebGPU (about 0.1 GFLOP/s, each
# kernel dispatch milliseconds), the browser holds the page while the GPU process catches up
# with a part's few hundred dispatches: seconds, measured and reported; a hang still fails.
FREEZE_MS = {"cpu": 1000, "webgpu": 10000, "auto": 10000}

DONE = "window.beyond && (window.beyond.lesson || window.beyond.lesson_error || window.beyond.error)"
SAVED = "window.beyond && (window.beyond.saved || window.beyond.save_error || window.beyond.error)"
ASKED = "window.beyond && (window.beyond.benchmark || window.beyond.benchmark_error || window.beyond.error)"
CONTINUED = "window.beyond && (window.beyond.continuation || window.beyond.continuation_error || window.beyond.error)"
MEASURED = "window.beyond && (window.beyond.perplexity || window.beyond.perplexity_error || window.beyond.error)"
# Questions per subject put to the lesson's model (the world has three subjects).
ASK = 2
# What the lesson's model is asked to continue.
PROMPT = "The people of"
# The vocabulary lab: built-in samples analysed, the language learned from and how many tokens,
# the sweep's sizes.
VOCAB_LANGS = ["en", "zh", "ar", "hi"]
VOCAB_LEARN, VOCAB_ADD, VOCAB_SIZES = "zh", 200, [0, 50, 200]
REPO = pathlib.Path(__file__).resolve().parents[2]
# What the page's perplexity must share with the desktop's (numbers within 1e-3).
PERPLEXITY_FIELDS = ["nll_per_token", "perplexity", "bits_per_byte", "tokens", "bytes", "sequences"]
MODEL_FILES = ["config.json", "generation_config.json", "model.safetensors", "tokenizer.json"]


def serve(directory):
    """Serves `directory` on a free port of 127.0.0.1; returns the base URL."""
    handler = functools.partial(QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, ".wasm": "application/wasm"}

    def log_message(self, *args):
        pass


def not_blank(png):
    """Whether a screenshot shows something: many colours, and light and dark pixels."""
    image = Image.open(png).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 20) or []
    low, high = image.convert("L").getextrema()
    return len(colours) > 50 and high - low > 100, len(colours)


def close(a, b, tol):
    return abs(a - b) <= tol * max(1.0, abs(b))


def download_by_click(page, control, path, tries=5):
    """Clicks the app's button `control` as a person would, again when a click is lost, and
    saves what the browser downloads as `path`. Returns the clicks it took."""
    page.wait_for_function(
        f"window.beyond && window.beyond.controls && window.beyond.controls['{control}']",
        timeout=60_000, polling=250,
    )
    height = page.viewport_size["height"]
    for clicks in range(1, tries + 1):
        x, y = page.evaluate(f"window.beyond.controls['{control}']")
        if y > height:
            raise ValueError(f"the button `{control}` is drawn below the window (y={y:.0f})")
        try:
            with page.expect_download(timeout=10_000) as download:
                page.mouse.click(x, y)
            download.value.save_as(str(path))
            return clicks
        except Exception:
            if clicks == tries:
                raise


def run_device(browser, base, device, steps, desktop, out, failures):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
    downloads = []
    page.on("download", lambda d: downloads.append(d))
    page.add_init_script(FRAME_RECORDER)
    prompt = urllib.parse.quote(PROMPT)
    page.goto(f"{base}/?lesson=run&device={device}&steps={steps}&save=zip&ask={ASK}&prompt={prompt}"
              "&perplexity=1")
    page.wait_for_function(DONE, timeout=600_000, polling=500)
    if page.evaluate("!!window.beyond.lesson"):
        page.wait_for_function(SAVED, timeout=300_000, polling=250)
        page.wait_for_function(ASKED, timeout=600_000, polling=250)
        page.wait_for_function(CONTINUED, timeout=600_000, polling=250)
        page.wait_for_function(MEASURED, timeout=600_000, polling=250)
    report_path, report_error = out / f"benchmark-{device}.json", None
    if page.evaluate("!!window.beyond.benchmark"):
        try:
            download_by_click(page, "download benchmark report", report_path)
        except Exception as e:
            report_error = str(e)
    state = page.evaluate("JSON.stringify(window.beyond)")
    zip_path = out / f"model-{device}.zip"
    if downloads:
        downloads[0].save_as(str(zip_path))
    state = json.loads(state)
    adapter = page.evaluate(
        "navigator.gpu ? navigator.gpu.requestAdapter().then(a => a ? (a.info ? a.info.architecture || a.info.vendor || 'yes' : 'yes') : null) : null"
    )
    page.wait_for_timeout(500)
    png = out / f"page-{device}.png"
    page.screenshot(path=str(png))
    gaps = page.evaluate("window.__frameGaps")
    long_tasks = sorted(page.evaluate("window.__longTasks"))
    page.close()

    result = {"device": device, "adapter": adapter, "console_errors": errors}
    fail = lambda what: failures.append(f"{device}: {what}")
    if state.get("error"):
        fail(f"the app failed: {state['error']}")
    if state.get("lesson_error"):
        fail(f"the lesson failed: {state['lesson_error']}")
    if state.get("save_error"):
        fail(f"saving the model failed: {state['save_error']}")
    if state.get("benchmark_error"):
        fail(f"the benchmark failed: {state['benchmark_error']}")
    if state.get("continuation_error"):
        fail(f"the continuation failed: {state['continuation_error']}")
    if state.get("perplexity_error"):
        fail(f"the perplexity failed: {state['perplexity_error']}")
    if errors:
        fail(f"console errors: {errors[:5]}")
    drawn, colours = not_blank(png)
    result["screenshot_colours"] = colours
    if not drawn:
        fail(f"the screenshot {png} is blank ({colours} colours)")
    if not state.get("lesson"):
        return result
    lesson = json.loads(state["lesson"])
    losses, norms = lesson["losses"], lesson["grad_norms"]
    result.update(
        trained_on=lesson["device"],
        steps=len(losses),
        first_loss=losses[0],
        last_loss=losses[-1],
        tokens_per_second=lesson["tokens_per_second"],
        seconds=lesson["seconds"],
    )
    if len(losses) != steps:
        fail(f"{len(losses)} steps, asked for {steps}")
    if not losses[-1] < losses[0] - 0.5:
        fail(f"the loss did not go down: {losses[0]:.4f} -> {losses[-1]:.4f}")
    if device == "webgpu" and adapter and not lesson["device"].startswith("gpu"):
        fail(f"the browser has a WebGPU adapter ({adapter}) but the lesson ran on {lesson['device']}")
    elif device == "webgpu" and adapter and "shared with the page" not in lesson["device"]:
        fail(f"the lesson trained on a GPU device of its own, not the page's: {lesson['device']}")
    worst_loss = max(abs(a - b) for a, b in zip(losses, desktop["losses"]))
    worst_norm = max(abs(a - b) / max(1.0, abs(b)) for a, b in zip(norms, desktop["grad_norms"]))
    result.update(max_loss_difference=worst_loss, max_grad_norm_difference=worst_norm)
    for step, (a, b) in enumerate(zip(losses, desktop["losses"]), 1):
        if not close(a, b, 1e-3):
            fail(f"step {step}: loss {a} in the browser, {b} on the desktop")
            break
    for step, (a, b) in enumerate(zip(norms, desktop["grad_norms"]), 1):
        if not close(a, b, 1e-3):
            fail(f"step {step}: gradient norm {a} in the browser, {b} on the desktop")
            break
    if state.get("continuation"):
        ours, theirs = json.loads(state["continuation"]), desktop["continuation"]
        result["continuation"] = PROMPT + "…" + ours["text"]
        if ours["ids"] != theirs["ids"]:
            fail(f"the continuation {ours['text']!r} ({ours['ids']}) is not the desktop's "
                 f"{theirs['text']!r} ({theirs['ids']})")
    elif not state.get("continuation_error"):
        fail("the prompt was not continued")
    if state.get("benchmark"):
        try:
            result.update(compare_benchmarks(json.loads(state["benchmark"]), desktop["benchmark"], 1e-3))
        except ValueError as e:
            fail(f"the benchmark: {e}")
        if report_error:
            fail(f"the benchmark's report was not downloaded: {report_error}")
        elif json.loads(report_path.read_text()) != json.loads(state["benchmark"]):
            fail("the downloaded benchmark report is not the one the page reported")
        else:
            result["benchmark_report_bytes"] = report_path.stat().st_size
    elif not state.get("benchmark_error"):
        fail("the benchmark was not asked")
    if state.get("perplexity"):
        ours, theirs = json.loads(state["perplexity"]), desktop["perplexity"]
        result["bits_per_byte"] = {lang: round(p["bits_per_byte"], 4) for lang, p in ours.items()}
        try:
            same({k: {f: p[f] for f in PERPLEXITY_FIELDS} for k, p in ours.items()},
                 {k: {f: p[f] for f in PERPLEXITY_FIELDS} for k, p in theirs.items()},
                 tol=1e-3, where="perplexity")
        except ValueError as e:
            fail(f"the held-out perplexity differs from the desktop's: {e}")
    elif not state.get("perplexity_error"):
        fail("the perplexity was not measured")
    if not downloads:
        fail("the trained model was not downloaded")
    else:
        result.update(saved=state.get("saved"), zip_bytes=zip_path.stat().st_size)
        try:
            result["max_weight_difference"] = compare_models(zip_path, desktop["model_dir"], 1e-3)
        except ValueError as e:
            fail(f"the downloaded model: {e}")
    # The frames while the page ran (the first second is the page loading).
    gaps = sorted(g for g in gaps[5:]) or [0.0]
    result.update(
        frames=len(gaps),
        frame_gap_p50_ms=gaps[len(gaps) // 2],
        frame_gap_p95_ms=gaps[int(len(gaps) * 0.95)],
        frame_gap_max_ms=gaps[-1],
    )
    result.update(long_tasks=len(long_tasks), longest_task_ms=long_tasks[-1] if long_tasks else 0.0)
    if long_tasks and long_tasks[-1] > FREEZE_MS[device]:
        fail(f"the tab froze: the main thread was busy for {long_tasks[-1]:.0f} ms at once")
    return result


def desktop_lesson(beyond, steps, model_dir):
    """The lesson on the desktop's CPU, as `beyond lesson --json` reports it, its model saved in
    `model_dir`."""
    out = subprocess.run(
        [beyond, "lesson", "--device", "cpu", "--json", "--steps", str(steps),
         "--save", str(model_dir), "--ask", "--questions", str(ASK), "--prompt", PROMPT,
         "--perplexity"],
        check=True, capture_output=True, text=True,
    ).stdout
    return dict(json.loads(out), model_dir=model_dir)


def compare_benchmarks(ours, theirs, tol):
    """The page's benchmark against the desktop's: the same questions, every option's score
    within `tol`, the same choice unless the desktop's two options tie within `tol`. Returns
    what was seen; raises ValueError otherwise."""
    if ours["questions"] != theirs["questions"]:
        raise ValueError(f"{ours['questions']} questions asked, the desktop {theirs['questions']}")
    worst, seen = 0.0, {}
    for a, b in zip(ours["modes"], theirs["modes"], strict=True):
        right = 0
        for x, y in zip(a["items"], b["items"], strict=True):
            if (x["subject"], x["id"]) != (y["subject"], y["id"]):
                raise ValueError(f"question {x['subject']}/{x['id']} where the desktop has {y['subject']}/{y['id']}")
            for p, q in zip(x["scores"], y["scores"], strict=True):
                worst = max(worst, abs(p - q))
                if not close(p, q, tol):
                    raise ValueError(f"{a['scoring']} scoring of {x['id']}: {p} here, {q} on the desktop")
            if x["predicted"] != y["predicted"] and not close(
                y["scores"][x["predicted"]], y["scores"][y["predicted"]], tol
            ):
                raise ValueError(f"{a['scoring']} scoring of {x['id']}: chose {x['predicted']}, the desktop {y['predicted']}")
            right += x["predicted"] == x["answer"]
        seen[f"benchmark_{a['scoring']}_right"] = f"{right} of {len(a['items'])}"
    seen["benchmark_questions"] = ours["questions"]
    seen["max_benchmark_score_difference"] = worst
    return seen


def microscope(browser, base, tokenizer, out, failures):
    """The token microscope: LLaMA-2's tokenizer fetched beside the page, and `tokenizer` given
    through the browser's file picker after a click on the Open button."""
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
    fail = lambda what: failures.append(f"microscope: {what}")
    page.goto(f"{base}/?page=microscope")
    button = "open extended tokenizer"
    page.wait_for_function(
        f"window.beyond && window.beyond.controls && window.beyond.controls['{button}'] "
        "&& window.beyond.microscope && JSON.parse(window.beyond.microscope)[0]",
        timeout=120_000, polling=250,
    )
    x, y = page.evaluate(f"window.beyond.controls['{button}']")
    result = {"page": "microscope"}
    # The browser opens its picker at once when the click's user activation is still fresh as
    # the page handles it (the next frame); on a loaded machine it may have lapsed, and then a
    # card with a file button shows, which a person clicks. Either way the file goes in.
    chooser_opened = []
    page.on("filechooser", lambda c: (chooser_opened.append(True), c.set_files(str(tokenizer))))
    picked_or_card = (
        "JSON.parse(window.beyond.microscope)[1] || "
        "(document.getElementById('rfd-overlay') && "
        "!document.getElementById('rfd-overlay').classList.contains('hidden'))"
    )
    try:
        # A person clicks again when nothing happens: the first click on a fresh page can be
        # taken by the canvas gaining focus.
        for clicks in range(1, 6):
            page.mouse.click(x, y)
            try:
                page.wait_for_function(picked_or_card, timeout=10_000, polling=250)
                break
            except Exception:
                if clicks == 5:
                    raise
        result["clicks"] = clicks
        if not chooser_opened:
            result["picker"] = "the card's file button"
            page.click("#rfd-input")
        else:
            result["picker"] = "opened by the click"
        page.wait_for_function(
            "JSON.parse(window.beyond.microscope)[1]", timeout=60_000, polling=250
        )
    except Exception as e:  # a click that opened nothing, or a file that never arrived
        fail(f"the file picker: {e}")
    loaded = json.loads(page.evaluate("window.beyond.microscope"))
    page.wait_for_timeout(300)
    png = out / "page-microscope.png"
    page.screenshot(path=str(png))
    page.close()
    result.update(loaded=loaded, console_errors=errors)
    if errors:
        fail(f"console errors: {errors[:5]}")
    drawn, colours = not_blank(png)
    if not drawn:
        fail(f"the screenshot {png} is blank ({colours} colours)")
    base_tok = loaded[0] or {}
    picked = loaded[1] if len(loaded) > 1 else None
    if base_tok.get("vocab_size") != 32000 or not base_tok.get("text_tokens"):
        fail(f"LLaMA-2's tokenizer did not load: {base_tok}")
    want = len(json.loads(tokenizer.read_text())["model"]["vocab"])
    if not picked or picked.get("file") != "tokenizer.json" or not picked.get("text_tokens"):
        fail(f"the picked tokenizer did not load: {picked}")
    elif picked.get("vocab_size", 0) < want:
        fail(f"the picked tokenizer has {picked.get('vocab_size')} tokens, its file {want}")
    return result


def safetensors(data):
    """The f32 tensors of a safetensors file: name -> (shape, values)."""
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] != "F32":
            raise ValueError(f"{name} is {info['dtype']}, not F32")
        start, end = info["data_offsets"]
        values = array.array("f")
        values.frombytes(data[8 + length + start:8 + length + end])
        tensors[name] = (info["shape"], values)
    return tensors


def compare_models(zip_path, desktop_dir, tol):
    """The largest difference between the zipped model's weights and the desktop's; raises
    ValueError on a missing file, another config or tokenizer, or a weight further than `tol`."""
    with zipfile.ZipFile(zip_path) as z:
        names = sorted(z.namelist())
        want = sorted(f"lesson-model/{n}" for n in MODEL_FILES)
        if names != want:
            raise ValueError(f"the zip holds {names}, not {want}")
        read = lambda n: z.read(f"lesson-model/{n}")
        if json.loads(read("config.json")) != json.loads((desktop_dir / "config.json").read_text()):
            raise ValueError("its config.json differs from the desktop's")
        if read("tokenizer.json") != (desktop_dir / "tokenizer.json").read_bytes():
            raise ValueError("its tokenizer.json differs from the desktop's")
        ours = safetensors(read("model.safetensors"))
    theirs = safetensors((desktop_dir / "model.safetensors").read_bytes())
    if sorted(ours) != sorted(theirs):
        raise ValueError(f"its weights are {sorted(ours)}, the desktop's {sorted(theirs)}")
    worst = 0.0
    for name, (shape, values) in ours.items():
        if shape != theirs[name][0]:
            raise ValueError(f"{name} has shape {shape}, the desktop's {theirs[name][0]}")
        diff = max((abs(a - b) for a, b in zip(values, theirs[name][1])), default=0.0)
        if not diff <= tol:
            raise ValueError(f"{name} differs from the desktop's by {diff}")
        worst = max(worst, diff)
    return worst


def speeds(runs):
    """Median training tokens/s of `runs` with the lowest and highest."""
    values = sorted(r["tokens_per_second"] for r in runs if "tokens_per_second" in r)
    if not values:
        return None
    return {"median": statistics.median(values), "min": values[0], "max": values[-1], "runs": len(values)}


def pick_files(page, control, files, done, tries=5):
    """Clicks the app's button `control` and gives the browser's file picker `files` (or, when
    the click's user activation lapsed and rfd shows its card instead, the card's file button),
    clicking again when a click is lost, until `done` (a script) holds. Returns the clicks."""
    page.wait_for_function(
        f"window.beyond && window.beyond.controls && window.beyond.controls['{control}']",
        timeout=120_000, polling=250,
    )
    x, y = page.evaluate(f"window.beyond.controls['{control}']")
    opened = []
    page.on("filechooser", lambda c: (opened.append(True), c.set_files([str(f) for f in files])))
    card = ("(document.getElementById('rfd-overlay') && "
            "!document.getElementById('rfd-overlay').classList.contains('hidden'))")
    for clicks in range(1, tries + 1):
        page.mouse.click(x, y)
        try:
            page.wait_for_function(f"({done}) || {card}", timeout=10_000, polling=250)
            break
        except Exception:
            if clicks == tries:
                raise
    if not opened and page.evaluate(card):
        page.click("#rfd-input")
    page.wait_for_function(done, timeout=300_000, polling=250)
    return clicks


def playground(browser, base, beyond, model_dir, continuation, out, failures):
    """A model given to the page as files: the desktop's saved lesson model."""
    fail = lambda what: failures.append(f"playground: {what}")
    english = REPO / "assets/corpora/udhr/en.txt"
    theirs = json.loads(subprocess.run(
        [beyond, "eval", "perplexity", "--model", str(model_dir), "--text", f"en={english}",
         "--batch-size", "2", "--device", "cpu", "--json"],
        check=True, capture_output=True, text=True,
    ).stdout)["rows"][0]
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
    prompt = urllib.parse.quote(PROMPT)
    page.goto(f"{base}/?page=playground&measure=en&device=cpu&prompt={prompt}")
    done = ("window.beyond && (window.beyond.error || (window.beyond.model && (() => {"
            " const m = JSON.parse(window.beyond.model);"
            " return m.perplexity || Object.values(m.errors).some(e => e); })()))")
    result = {"page": "playground"}
    try:
        result["clicks"] = pick_files(page, "open model files", [model_dir / f for f in MODEL_FILES], done)
    except Exception as e:
        fail(f"the model's files did not go in, or it did not finish: {e}")
    state = json.loads(page.evaluate("JSON.stringify(window.beyond || {})"))
    found = json.loads(state.get("model") or "{}")
    page.wait_for_timeout(300)
    png = out / "page-playground.png"
    page.screenshot(path=str(png))
    page.close()
    result.update(console_errors=errors, model=found.get("model"))
    if state.get("error") or any((found.get("errors") or {}).values()):
        fail(f"the page failed: {state.get('error') or found.get('errors')}")
    if errors:
        fail(f"console errors: {errors[:5]}")
    drawn, colours = not_blank(png)
    if not drawn:
        fail(f"the screenshot {png} is blank ({colours} colours)")
    ours = found.get("continuation") or {}
    if ours.get("ids") != continuation["ids"]:
        fail(f"the continuation {ours.get('text')!r} is not the desktop's {continuation['text']!r}")
    p = found.get("perplexity")
    if p:
        result["bits_per_byte"] = p["bits_per_byte"]
        try:
            same({f: p[f] for f in PERPLEXITY_FIELDS}, {f: theirs[f] for f in PERPLEXITY_FIELDS},
                 tol=1e-3, where="perplexity")
        except ValueError as e:
            fail(f"the perplexity differs from `beyond eval perplexity`'s: {e}")
    return result


def desktop_vocabulary(beyond, out):
    """The vocabulary lab's work on the desktop: `beyond vocab analyze|extend|sweep --json` on
    the repository's LLaMA-2 tokenizer and UDHR files."""
    tokenizer = REPO / "assets/tokenizers/llama2/tokenizer.json"
    udhr = REPO / "assets/corpora/udhr"
    corpora = [a for lang in VOCAB_LANGS for a in ("--corpus", f"{lang}={udhr / lang}.txt")]
    run = lambda *args: json.loads(subprocess.run(
        [beyond, "vocab", *args, "--json"], check=True, capture_output=True, text=True,
    ).stdout)
    extended = out / "desktop-extended-tokenizer.json"
    return {
        "analysis": run("analyze", "--tokenizer", str(tokenizer), *corpora, "--reference", "en"),
        "extension": run("extend", "--tokenizer", str(tokenizer),
                         "--corpus", str(udhr / f"{VOCAB_LEARN}.txt"),
                         "--add", str(VOCAB_ADD), "--out", str(extended)),
        "sweep": run("sweep", "--tokenizer", str(tokenizer),
                     "--train-corpus", str(udhr / f"{VOCAB_LEARN}.txt"),
                     "--sizes", ",".join(map(str, VOCAB_SIZES)), *corpora, "--reference", "en"),
        "tokenizer_file": extended,
    }


def same(ours, theirs, tol=1e-9, where="") -> None:
    """Raises ValueError at the first place two JSON values differ (numbers within `tol`)."""
    if isinstance(theirs, dict):
        if not isinstance(ours, dict) or set(ours) != set(theirs):
            raise ValueError(f"{where}: keys {sorted(ours) if isinstance(ours, dict) else ours} "
                             f"against {sorted(theirs)}")
        for k in theirs:
            same(ours[k], theirs[k], tol, f"{where}.{k}")
    elif isinstance(theirs, list):
        if not isinstance(ours, list) or len(ours) != len(theirs):
            raise ValueError(f"{where}: {ours!r:.200} against {theirs!r:.200}")
        for i, (a, b) in enumerate(zip(ours, theirs)):
            same(a, b, tol, f"{where}[{i}]")
    elif isinstance(theirs, float) or isinstance(ours, float):
        if not (isinstance(ours, (int, float)) and close(ours, theirs, tol)):
            raise ValueError(f"{where}: {ours!r} against {theirs!r}")
    elif ours != theirs:
        raise ValueError(f"{where}: {ours!r:.200} against {theirs!r:.200}")


def vocabulary(browser, base, beyond, out, failures):
    """The vocabulary lab in the page against the desktop's `beyond vocab`."""
    desktop = desktop_vocabulary(beyond, out)
    page = browser.new_page(viewport={"width": 1280, "height": 1600})
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
    fail = lambda what: failures.append(f"vocabulary: {what}")
    page.add_init_script(FRAME_RECORDER)
    sizes = ",".join(map(str, VOCAB_SIZES))
    page.goto(f"{base}/?page=vocabulary&analyse={','.join(VOCAB_LANGS)}"
              f"&extend={VOCAB_LEARN}:{VOCAB_ADD}&sweep={sizes}")
    done = ("window.beyond && (window.beyond.error || (window.beyond.vocabulary && (() => {"
            " const v = JSON.parse(window.beyond.vocabulary);"
            " return Object.keys(v.errors).length || (v.analysis && v.extension && v.sweep); })()))")
    result = {"page": "vocabulary"}
    try:
        page.wait_for_function(done, timeout=300_000, polling=250)
    except Exception as e:
        fail(f"the page did not finish: {e}")
    state = json.loads(page.evaluate("JSON.stringify(window.beyond || {})"))
    found = json.loads(state.get("vocabulary") or "{}")
    if state.get("error") or found.get("errors"):
        fail(f"the page failed: {state.get('error') or found.get('errors')}")
    downloaded = out / "page-extended-tokenizer.json"
    if found.get("extension"):
        try:
            result["download_clicks"] = download_by_click(page, "download extended tokenizer", downloaded)
        except Exception as e:
            fail(f"the extended tokenizer was not downloaded: {e}")
    page.wait_for_timeout(300)
    png = out / "page-vocabulary.png"
    page.screenshot(path=str(png))
    long_tasks = sorted(page.evaluate("window.__longTasks"))
    page.close()
    result.update(console_errors=errors, longest_task_ms=long_tasks[-1] if long_tasks else 0.0)
    if errors:
        fail(f"console errors: {errors[:5]}")
    drawn, colours = not_blank(png)
    if not drawn:
        fail(f"the screenshot {png} is blank ({colours} colours)")
    if long_tasks and long_tasks[-1] > FREEZE_MS["cpu"]:
        fail(f"the tab froze: the main thread was busy for {long_tasks[-1]:.0f} ms at once")
    for part in ("analysis", "extension", "sweep"):
        try:
            same(found.get(part), desktop[part], where=part)
        except ValueError as e:
            fail(f"the {part} differs from the desktop's: {e}")
    if found.get("tokenizer") != "LLaMA-2 (bundled)":
        fail(f"analysed with {found.get('tokenizer')!r}, not the bundled LLaMA-2 tokenizer")
    if downloaded.exists():
        if downloaded.read_bytes() != desktop["tokenizer_file"].read_bytes():
            fail("the downloaded tokenizer.json is not the file `beyond vocab extend` writes")
        result["extended_tokenizer_bytes"] = downloaded.stat().st_size
    if found.get("analysis"):
        result["tokens_per_character"] = {
            lang: round(s["tokens_per_character"], 3) for lang, s in found["analysis"].items()
        }
    if found.get("sweep"):
        result["sweep"] = {
            p["added"]: round(p["languages"][VOCAB_LEARN]["tokens_per_character"], 3)
            for p in found["sweep"]
        }
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dist", type=pathlib.Path, default=pathlib.Path("web/dist"))
    parser.add_argument("--beyond", required=True, help="the desktop binary")
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--out", type=pathlib.Path, required=True)
    parser.add_argument("--chromium", default="/usr/lib/chromium/chromium")
    parser.add_argument("--devices", default="webgpu,cpu")
    parser.add_argument("--rounds", type=int, default=1)
    a = parser.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    base = serve(a.dist)
    devices = a.devices.split(",")
    failures, desktops, results, first = [], [], [], None
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=a.chromium, headless=True, args=CHROMIUM_FLAGS)
        for r in range(a.rounds):
            desktop = desktop_lesson(a.beyond, a.steps, a.out / f"desktop-model-{r}")
            first = first or desktop
            desktops.append({k: desktop[k] for k in ("device", "tokens_per_second", "seconds")})
            for device in devices:
                results.append(run_device(browser, base, device, a.steps, desktop, a.out, failures))
        tokenizer = a.out / "desktop-model-0" / "tokenizer.json"
        results.append(microscope(browser, base, tokenizer, a.out, failures))
        results.append(vocabulary(browser, base, a.beyond, a.out, failures))
        results.append(playground(browser, base, a.beyond, first["model_dir"],
                                  first["continuation"], a.out, failures))
        browser.close()
    summary = {
        "steps": a.steps,
        "training_tokens_per_second": {
            "desktop cpu": speeds(desktops),
            **{f"browser {d}": speeds([r for r in results if r.get("device") == d]) for d in devices},
        },
        "desktop": desktops,
        "browser": results,
        "failures": failures,
    }
    (a.out / "results.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    if failures:
        sys.exit("web test failed:\n  " + "\n  ".join(failures))
    print("web test passed")


if __name__ == "__main__":
    main()
