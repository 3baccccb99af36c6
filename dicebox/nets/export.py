"""Export kits: a trained model in a format other tools run, with what is needed to use it.

::

    <kit>/
      model.keras | saved_model/ | model.tflite | model.onnx   the network (uint8 NHWC in, softmax out)
      labels.txt          one category per line, in output order
      preprocessing.json  geometry, channels, colour order, scaling, categories, model id
      example.py          runnable: ``python example.py photo.jpg`` prints label and confidence
      README.md           what is here and how to use it

The kit is built in a temp folder beside ``out`` and renamed into place, so a reader never sees
half a kit. :func:`export_archive` returns the same kit as zip bytes, for the API and the GUI.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from dicebox.nets.bundle import (
    MODEL_FILE,
    PREPROCESSING_FILE,
    Bundle,
    BundleError,
    as_bundle,
    check_target,
    export_savedmodel,
    export_tflite,
    preprocessing_document,
)
from dicebox.plumbing.durable import replace_dir, sibling_path

FORMATS: dict[str, str] = {
    "keras": MODEL_FILE,
    "savedmodel": "saved_model",
    "tflite": "model.tflite",
    "onnx": "model.onnx",
}
LABELS_FILE = "labels.txt"
README_FILE = "README.md"
EXAMPLE_FILE = "example.py"
PAGE_FILE = "index.html"  # ONNX kits: classify in a browser with ONNX Runtime Web
ORT_WEB_VERSION = "1.30.0"
# Enough images to see every activation range; the TFLite converter runs each one through the model.
CALIBRATION_IMAGES = 200


class ExportError(BundleError):
    """An export that cannot be made as asked (unknown format, int8 without images, ...)."""


def calibration_sample(images: np.ndarray, labels: np.ndarray, count: int = CALIBRATION_IMAGES) -> np.ndarray:
    """Up to ``count`` images, the same share from every category, in a fixed (seeded) order."""
    if len(images) == 0:
        raise ExportError("int8 calibration needs images, and the data set has none")
    rng = np.random.default_rng(0)
    classes = np.unique(labels)
    per_class = max(1, count // len(classes))
    picked = [rng.permutation(np.flatnonzero(labels == c))[:per_class] for c in classes]
    return images[np.sort(np.concatenate(picked))[:count]]


def export_model(
    bundle: Bundle | str | os.PathLike,
    fmt: str,
    out: str | os.PathLike,
    *,
    int8_sample: np.ndarray | None = None,
) -> Path:
    """Write the export kit of ``bundle`` in format ``fmt`` to the folder ``out`` (replaced if it is a kit).

    ``int8_sample`` (uint8 images, see :func:`calibration_sample`) quantises a TFLite export to int8.
    """
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if int8_sample is not None and fmt != "tflite":
        raise ExportError(f"int8 quantisation is for the tflite format, not {fmt}")
    bundle = as_bundle(bundle)
    out = Path(out).absolute()
    check_target(out, PREPROCESSING_FILE, "a model export")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = sibling_path(out, "tmp")
    staging.mkdir()
    try:
        _write_kit(bundle, fmt, staging, int8_sample)
        replace_dir(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


def export_archive(bundle: Bundle | str | os.PathLike, fmt: str, *, int8_sample: np.ndarray | None = None) -> bytes:
    """The export kit as zip bytes (files under ``<model id>-<format>/``): for a download or a Save dialog."""
    bundle = as_bundle(bundle)
    with tempfile.TemporaryDirectory(prefix="dicebox-export-") as scratch:
        kit = export_model(bundle, fmt, Path(scratch) / "kit", int8_sample=int8_sample)
        buffer = io.BytesIO()
        top = f"{bundle.model_id}-{fmt}"
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(kit.rglob("*")):
                if path.is_file():
                    archive.write(path, f"{top}/{path.relative_to(kit).as_posix()}")
    return buffer.getvalue()


def _write_kit(bundle: Bundle, fmt: str, folder: Path, int8_sample: np.ndarray | None) -> None:
    if not bundle.model_path.is_file():
        raise ExportError(
            f"model {bundle.model_id} was loaded from an export, not from a bundle: export it from its bundle"
        )
    model_path = folder / FORMATS[fmt]
    if fmt == "keras":
        shutil.copyfile(bundle.model_path, model_path)
    elif fmt == "savedmodel":
        export_savedmodel(bundle, model_path)
    elif fmt == "tflite":
        export_tflite(bundle, model_path, int8_sample=int8_sample)
    else:
        from dicebox.nets.onnx_export import OnnxExportError, to_onnx

        metadata = json.loads(preprocessing_document(bundle))
        try:
            model_path.write_bytes(to_onnx(bundle.load_model(), metadata))
        except OnnxExportError as exc:
            raise ExportError(f"cannot export {bundle.model_id} as ONNX: {exc}") from None
    (folder / PREPROCESSING_FILE).write_text(preprocessing_document(bundle), encoding="utf-8")
    (folder / LABELS_FILE).write_text("".join(f"{name}\n" for name in bundle.categories), encoding="utf-8")
    (folder / EXAMPLE_FILE).write_text(_example(fmt), encoding="utf-8")
    (folder / README_FILE).write_text(_readme(bundle, fmt, int8_sample is not None), encoding="utf-8")
    if fmt == "onnx":
        (folder / PAGE_FILE).write_text(_PAGE.replace("{ort_version}", ORT_WEB_VERSION), encoding="utf-8")


_RUNNERS = {
    "keras": """
def run(batch):
    import keras  # pip install tensorflow-cpu (or tensorflow)

    model = keras.models.load_model(HERE / "model.keras", compile=False)
    return np.asarray(model(batch, training=False))
""",
    "savedmodel": """
def run(batch):
    import tensorflow as tf  # pip install tensorflow-cpu (or tensorflow)

    loaded = tf.saved_model.load(str(HERE / "saved_model"))  # keep a reference: serve() uses its variables
    return loaded.serve(tf.constant(batch)).numpy()
""",
    "tflite": """
def run(batch):
    try:
        from ai_edge_litert.interpreter import Interpreter  # pip install ai-edge-litert (no TensorFlow)
    except ImportError:
        import tensorflow as tf  # TensorFlow's own copy

        Interpreter = tf.lite.Interpreter

    interpreter = Interpreter(model_path=str(HERE / "model.tflite"))
    entry = interpreter.get_input_details()[0]
    interpreter.resize_tensor_input(entry["index"], list(batch.shape))
    interpreter.allocate_tensors()
    interpreter.set_tensor(entry["index"], batch)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
""",
    "onnx": """
def run(batch):
    import onnxruntime  # pip install onnxruntime

    session = onnxruntime.InferenceSession(str(HERE / "model.onnx"), providers=["CPUExecutionProvider"])
    return session.run(None, {"image": batch})[0]
""",
}

_EXAMPLE = '''"""Classify image files with this exported dicebox model: python example.py IMAGE [IMAGE ...]

Needs numpy and opencv-python(-headless), plus the runtime named in run().
"""

import json
import sys
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
SPEC = json.loads((HERE / "preprocessing.json").read_text())["preprocessing"]
LABELS = (HERE / "labels.txt").read_text().splitlines()


def prepare(path):
    """The image as the model saw its training images: BGR uint8, centre crop, resize, grey if 1 channel."""
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        sys.exit(f"cannot read {path}")
    if image.ndim == 2:
        image = image[:, :, None]
    if image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if SPEC["channels"] == 1 and image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)[:, :, None]
    elif SPEC["channels"] == 3 and image.shape[2] == 1:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    width, height = SPEC["width"], SPEC["height"]
    h, w = image.shape[:2]
    if (h, w) != (height, width):
        if w * height > h * width:
            new_w = max(1, round(h * width / height))
            image = image[:, (w - new_w) // 2 : (w - new_w) // 2 + new_w]
        else:
            new_h = max(1, round(w * height / width))
            image = image[(h - new_h) // 2 : (h - new_h) // 2 + new_h, :]
        shrinking = image.shape[1] > width
        image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    return np.ascontiguousarray(image.reshape(height, width, SPEC["channels"]), dtype=np.uint8)
{runner}

if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    probabilities = run(np.stack([prepare(path) for path in sys.argv[1:]]))
    for path, row in zip(sys.argv[1:], probabilities):
        best = int(np.argmax(row))
        print(f"{path}\\t{LABELS[best]}\\t{row[best]:.4f}")
'''


_PAGE = """<!doctype html>
<html lang="en">
<meta charset="utf-8">
<title>dicebox model in the browser</title>
<!-- Serve this folder over HTTP (python -m http.server) and open index.html; pick images to classify.
     ONNX Runtime Web comes from jsDelivr unless ?ort=<folder of onnxruntime-web's dist/> says otherwise. -->
<h1>dicebox model</h1>
<p><input type="file" id="files" accept="image/*" multiple></p>
<pre id="result">loading the model...</pre>
<script type="module">
const ortBase = new URLSearchParams(location.search).get("ort")
  || "https://cdn.jsdelivr.net/npm/onnxruntime-web@{ort_version}/dist/";
const result = document.getElementById("result");
await new Promise((resolve, reject) => {
  const script = document.createElement("script");
  script.src = ortBase + "ort.min.js";
  script.onload = resolve;
  script.onerror = () => reject(new Error("cannot load " + script.src));
  document.head.appendChild(script);
});
ort.env.wasm.wasmPaths = ortBase;
ort.env.wasm.numThreads = 1;
const spec = (await (await fetch("preprocessing.json")).json()).preprocessing;
const labels = (await (await fetch("labels.txt")).text()).split("\\n").filter((line) => line);
const session = await ort.InferenceSession.create("model.onnx");
result.textContent = "ready";

// The same steps as dicebox: centre crop to width:height, resize, BGR (or grey) uint8, NHWC.
function prepare(bitmap) {
  const { width, height, channels } = spec;
  let sx = 0, sy = 0, sw = bitmap.width, sh = bitmap.height;
  if (sw * height > sh * width) {
    const w = Math.max(1, Math.round((sh * width) / height));
    sx = Math.floor((sw - w) / 2); sw = w;
  } else {
    const h = Math.max(1, Math.round((sw * height) / width));
    sy = Math.floor((sh - h) / 2); sh = h;
  }
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext("2d");
  context.imageSmoothingQuality = "high";
  context.drawImage(bitmap, sx, sy, sw, sh, 0, 0, width, height);
  const rgba = context.getImageData(0, 0, width, height).data;
  const pixels = new Uint8Array(width * height * channels);
  for (let i = 0; i < width * height; i++) {
    const r = rgba[4 * i], g = rgba[4 * i + 1], b = rgba[4 * i + 2];
    if (channels === 1) pixels[i] = Math.round(0.299 * r + 0.587 * g + 0.114 * b);
    else pixels.set([b, g, r], 3 * i);
  }
  return new ort.Tensor("uint8", pixels, [1, height, width, channels]);
}

document.getElementById("files").addEventListener("change", async (event) => {
  const lines = [];
  for (const file of event.target.files) {
    const bitmap = await createImageBitmap(file, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
    const output = await session.run({ image: prepare(bitmap) });
    const probabilities = Array.from(output.probabilities.data);
    const best = probabilities.indexOf(Math.max(...probabilities));
    lines.push(`${file.name}\\t${labels[best]}\\t${probabilities[best].toFixed(4)}`);
  }
  result.textContent = lines.join("\\n");
});
</script>
</html>
"""


def _example(fmt: str) -> str:
    return _EXAMPLE.replace("{runner}", _RUNNERS[fmt])


_USE = {
    "keras": "Keras 3 (`pip install tensorflow-cpu`): `keras.models.load_model('model.keras', compile=False)`.",
    "savedmodel": "TensorFlow (`pip install tensorflow-cpu`), TF Serving or TF.js converter: the `serve` "
    "endpoint of `saved_model/` takes the uint8 batch.",
    "tflite": "LiteRT (`pip install ai-edge-litert`, no TensorFlow needed) on a Raspberry Pi or phone, "
    "or TensorFlow's `tf.lite.Interpreter`. Labels and preprocessing are also in the file's metadata "
    "(entries `dicebox_labels` and `dicebox_preprocessing`; `dicebox.nets.tflite_metadata.read` reads them).",
    "onnx": "ONNX Runtime (`pip install onnxruntime`, no TensorFlow needed), ONNX Runtime Web in a browser, "
    "or any ONNX runtime (opset 17). Labels and preprocessing are also in the model's metadata "
    "properties (`categories`, `preprocessing`).",
}


def _readme(bundle: Bundle, fmt: str, int8: bool) -> str:
    geometry = bundle.geometry
    colour = "grey, one channel" if geometry.channels == 1 else "colour, 3 channels in BGR order"
    quantised = (
        "\nThe weights and activations are quantised to int8 (calibrated on a sample of the data set): "
        "smaller and faster, with probabilities close to but not exactly the original's.\n"
        if int8
        else ""
    )
    page = (
        f"\n\nIn a browser: serve this folder (`python -m http.server`) and open `{PAGE_FILE}`; it runs the model with "
        f"ONNX Runtime Web {ORT_WEB_VERSION} (from jsDelivr) on the images you pick. The browser resizes with its own "
        "filter, so probabilities can differ a little from dicebox's for images that are not the model's size."
        if fmt == "onnx"
        else ""
    )
    return f"""# dicebox model {bundle.model_id} ({fmt})

Categories ({len(bundle.categories)}, in output order, also in `{LABELS_FILE}`): {", ".join(bundle.categories)}.
{quantised}
## Input and output

- Input `image`: uint8 array of shape `[batch, {geometry.height}, {geometry.width}, {geometry.channels}]` \
(NHWC), {colour}, pixel values 0..255 as they are: the scaling to 0..1 happens inside the model.
- Each image is first centre-cropped to the {geometry.width}:{geometry.height} aspect ratio, then resized \
(OpenCV INTER_AREA to shrink, INTER_LINEAR to enlarge), exactly as dicebox does; `{EXAMPLE_FILE}` shows how.
- Output `probabilities`: float32 `[batch, {len(bundle.categories)}]`, softmax, one per line of `{LABELS_FILE}`.
- The full specification is in `{PREPROCESSING_FILE}`.

## Run it

{_USE[fmt]}

```
pip install numpy opencv-python-headless
python {EXAMPLE_FILE} photo.jpg
```

prints one line per image: file, label, confidence. `{EXAMPLE_FILE}` is short: copy its `prepare` and
`run` functions into your program.{page}
"""
