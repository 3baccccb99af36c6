// The dicebox web client: label, record and classify from any browser, through the service's own API.
//
// It speaks only to its own origin (the Content-Security-Policy enforces it). The API key is asked
// once and kept in sessionStorage; it travels only in the API-ACCESS-KEY header.

import * as preprocess from "./preprocess.js";
import { FrameQueue } from "./queue.js";

const KEY_STORAGE = "dicebox.apiKey";
const DUPLICATE_THRESHOLD = 1.5; // mean absolute pixel difference, as the desktop recorder
const BATCH = 32;
const $ = (id) => document.getElementById(id);

const state = {
  key: sessionStorage.getItem(KEY_STORAGE) || "",
  dataset: null, // {id, width, height, channels, categories: [{name, count}], version}
  roi: null, // {x, y, width, height} in frame pixels
  frameSize: null,
  latest: null, // the newest preprocessed crop
  kept: 0,
  keptBy: {}, // category -> frames kept in this tab
  delivered: 0,
  duplicates: 0,
  refused: 0,
  lastKept: null,
  lastKeptTime: 0,
  keptHashes: new Set(),
  holding: 0, // pointer and key holds
  classification: null,
  modelLoaded: null,
  askModelAfter: 0,
  online: null,
};
const queue = new FrameQueue();
window.dicebox = { state, preprocess, queue, encodePng, deliver }; // for the console (and the browser tests)

// ---- Talking to the service -----------------------------------------------------------------

class Unreachable extends Error {}

async function api(path, { method = "GET", body, raw = false } = {}) {
  const headers = { "API-ACCESS-KEY": state.key };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store", credentials: "omit", referrerPolicy: "no-referrer",
    });
  } catch (error) {
    setOnline(false);
    throw new Unreachable(String(error));
  }
  setOnline(true);
  if (response.status === 401) askKey("The service refused the key: enter it again.");
  if (raw && response.ok) return { status: response.status, blob: await response.blob() };
  let data = null;
  try { data = await response.json(); } catch { data = null; }
  return { status: response.status, ok: response.ok, data };
}

function message(data, fallback) {
  return data && data.message ? data.message : fallback;
}

function setOnline(online) {
  if (state.online === online) return;
  state.online = online;
  const pill = $("connection");
  pill.dataset.state = online ? "online" : "offline";
  pill.textContent = online ? `connected to ${location.host}` : "service unreachable: frames wait in this browser";
  if (online) deliver();
}

// ---- The key ----------------------------------------------------------------------------------

function askKey(error = "") {
  $("key-origin").textContent = location.origin;
  $("key-error").textContent = error;
  $("key-input").value = "";
  if (!$("key-dialog").open) $("key-dialog").showModal();
}

async function connect() {
  let list;
  try {
    list = await api("/api/v1/datasets");
  } catch {
    setTimeout(connect, 2000);
    return;
  }
  if (list.status === 401) return;
  if (!list.ok) {
    $("connection").textContent = message(list.data, `the service answered ${list.status}`);
    return;
  }
  const select = $("dataset-select");
  select.replaceChildren(...list.data.datasets.map((id) => new Option(id, id)));
  select.value = state.dataset ? state.dataset.id : list.data.default;
  await loadDataset(select.value);
  startCamera();
}

$("key-form").addEventListener("submit", (event) => {
  const key = $("key-input").value.trim();
  if (!key) { event.preventDefault(); return; }
  state.key = key;
  sessionStorage.setItem(KEY_STORAGE, key);
  connect();
});
$("change-key").addEventListener("click", () => askKey());

// ---- Data set, counts and thumbnails ----------------------------------------------------------

async function loadDataset(id) {
  let answer;
  try { answer = await api(`/api/v1/datasets/${encodeURIComponent(id)}`); } catch { return; }
  if (!answer.ok) return;
  const d = answer.data;
  const changed = !state.dataset || state.dataset.id !== d.id;
  const newVersion = !state.dataset || state.dataset.version !== d.version || changed;
  state.dataset = d;
  if (changed) {
    state.roi = null;
    state.lastKept = null;
    const crop = $("crop-view");
    crop.width = d.width; crop.height = d.height;
    $("crop-caption").textContent =
      `${d.width} x ${d.height} ${d.channels === 1 ? "grey" : "colour"}: the crop exactly as the network sees it.`;
  }
  renderCategories();
  if (newVersion) renderThumbs();
}

$("dataset-select").addEventListener("change", (event) => loadDataset(event.target.value));

function renderCategories() {
  const cats = state.dataset.categories;
  const select = $("label-select");
  const previous = select.value;
  select.replaceChildren(new Option("(choose a category)", ""), ...cats.map((c) => new Option(c.name, c.name)));
  if (cats.some((c) => c.name === previous)) select.value = previous;
  $("counts").tBodies[0].replaceChildren(...cats.map((c) => {
    const row = document.createElement("tr");
    for (const text of [c.name, String(c.count)]) row.insertCell().textContent = text;
    row.dataset.category = c.name;
    return row;
  }));
}

const thumbUrls = new Map();
let thumbTicket = 0;

async function renderThumbs() {
  const ticket = ++thumbTicket; // a slower, older listing never replaces a newer one
  const d = state.dataset;
  const offset = Math.max(0, d.count - 12);
  let answer;
  try { answer = await api(`/api/v1/datasets/${encodeURIComponent(d.id)}/images?offset=${offset}&limit=12`); } catch {
    return;
  }
  if (!answer.ok) return;
  const images = answer.data.images.slice().reverse();
  const cells = [];
  for (const image of images) {
    if (!thumbUrls.has(image.id)) {
      try {
        const png = await api(`/api/v1/datasets/${encodeURIComponent(d.id)}/images/${image.id}`, { raw: true });
        if (png.blob) thumbUrls.set(image.id, URL.createObjectURL(png.blob));
      } catch { return; }
    }
    cells.push(thumbCell(image));
  }
  if (ticket === thumbTicket) $("thumbs").replaceChildren(...cells);
}

function thumbCell(image) {
  const cell = document.createElement("div");
  cell.className = "thumb";
  cell.dataset.id = image.id;
  const img = document.createElement("img");
  img.src = thumbUrls.get(image.id) || "";
  img.alt = image.category;
  const relabel = document.createElement("select");
  relabel.setAttribute("aria-label", "Relabel");
  relabel.append(...state.dataset.categories.map((c) => new Option(c.name, c.name)));
  relabel.value = image.category;
  relabel.addEventListener("change", () => editImage("relabel", image.id, relabel.value));
  const remove = document.createElement("button");
  remove.type = "button";
  remove.textContent = "Delete";
  remove.addEventListener("click", () => editImage("delete", image.id));
  cell.append(img, relabel, remove);
  return cell;
}

async function editImage(action, id, category) {
  const base = `/api/v1/datasets/${encodeURIComponent(state.dataset.id)}/images`;
  try {
    const answer = action === "delete"
      ? await api(`${base}/${id}`, { method: "DELETE" })
      : await api(`${base}/relabel`, { method: "POST", body: { ids: [id], category } });
    $("record-message").textContent = answer.ok ? "" : message(answer.data, `${action} failed (${answer.status})`);
  } catch {
    $("record-message").textContent = "The service cannot be reached: nothing was changed.";
  }
  if (action === "delete") thumbUrls.delete(id);
  await loadDataset(state.dataset.id);
  renderThumbs();
}

$("add-label").addEventListener("click", addCategory);
$("new-label").addEventListener("keydown", (event) => { if (event.key === "Enter") addCategory(); });

async function addCategory() {
  const name = $("new-label").value.trim();
  if (!name || !state.dataset) return;
  let answer;
  try {
    answer = await api(`/api/v1/datasets/${encodeURIComponent(state.dataset.id)}/categories`, {
      method: "POST", body: { name },
    });
  } catch {
    $("label-message").textContent = "The service cannot be reached: the category was not added.";
    return;
  }
  if (!answer.ok) {
    $("label-message").textContent = message(answer.data, `the service refused ${name}`);
    return;
  }
  $("label-message").textContent = "";
  $("new-label").value = "";
  await loadDataset(state.dataset.id);
  $("label-select").value = answer.data.name;
}

// ---- Camera and region of interest ------------------------------------------------------------

const video = $("video");
const grab = document.createElement("canvas");
const grabContext = grab.getContext("2d", { willReadFrequently: true });
let stream = null;

async function startCamera(deviceId) {
  if (!window.isSecureContext || !navigator.mediaDevices) {
    $("camera-message").textContent =
      "The browser allows the camera only on https:// or localhost pages: open this page through HTTPS.";
    return;
  }
  if (stream) stream.getTracks().forEach((track) => track.stop());
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      video: deviceId ? { deviceId: { exact: deviceId } } : { width: { ideal: 640 }, height: { ideal: 480 } },
      audio: false,
    });
  } catch (error) {
    $("camera-message").textContent = `No camera: ${error.message || error.name}`;
    return;
  }
  $("camera-message").textContent = "";
  video.srcObject = stream;
  await video.play();
  const devices = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === "videoinput");
  const current = stream.getVideoTracks()[0].getSettings().deviceId;
  $("camera-select").replaceChildren(...devices.map((d, i) => new Option(d.label || `camera ${i + 1}`, d.deviceId)));
  if (current) $("camera-select").value = current;
  nextFrame();
}

$("camera-select").addEventListener("change", (event) => startCamera(event.target.value));
$("camera-start").addEventListener("click", () => startCamera($("camera-select").value || undefined));

function nextFrame() {
  if ("requestVideoFrameCallback" in video) video.requestVideoFrameCallback(onFrame);
  else requestAnimationFrame(onFrame);
}

function defaultRoi(fw, fh, g) {
  // Roi.centered(frame, geometry, 0.5): half the frame high, the data set's aspect.
  let h = Math.max(1, preprocess.roundHalfEven(fh * 0.5));
  let w = Math.max(1, preprocess.roundHalfEven((h * g.width) / g.height));
  if (w > fw) { w = fw; h = Math.max(1, Math.min(fh, preprocess.roundHalfEven((w * g.height) / g.width))); }
  return { x: Math.floor((fw - w) / 2), y: Math.floor((fh - h) / 2), width: w, height: h };
}

function onFrame() {
  nextFrame();
  const fw = video.videoWidth, fh = video.videoHeight;
  if (!fw || !fh || !state.dataset) return;
  if (!state.frameSize || state.frameSize[0] !== fw || state.frameSize[1] !== fh) {
    state.frameSize = [fw, fh];
    state.roi = null;
    grab.width = fw; grab.height = fh;
    const view = $("frame-view");
    view.width = fw; view.height = fh;
  }
  if (!state.roi) state.roi = defaultRoi(fw, fh, state.dataset);
  grabContext.drawImage(video, 0, 0);
  const box = preprocess.fitRoi(state.roi, fw, fh);
  const pixels = grabContext.getImageData(box.x, box.y, box.width, box.height).data;
  const result = preprocess.preprocessRoi(pixels, box.width, box.height,
    { x: 0, y: 0, width: box.width, height: box.height }, state.dataset);
  result.box = box;
  result.category = $("label-select").value;
  state.latest = result;
  $("crop-view").getContext("2d").putImageData(new ImageData(preprocess.toRgba(result), result.width, result.height), 0, 0);
  drawView(box);
  if (recording()) offerFrame(result);
}

function drawView(box) {
  const view = $("frame-view");
  const ctx = view.getContext("2d");
  ctx.drawImage(grab, 0, 0);
  const lw = Math.max(2, view.width / 320);
  ctx.lineWidth = lw;
  ctx.strokeStyle = recording() ? "#f33" : "#4f4";
  ctx.strokeRect(box.x + lw / 2, box.y + lw / 2, box.width - lw, box.height - lw);
  const handle = handleSize();
  ctx.fillStyle = ctx.strokeStyle;
  ctx.fillRect(box.x + box.width - handle, box.y + box.height - handle, handle, handle);
}

function handleSize() {
  const view = $("frame-view");
  const scale = view.width / Math.max(1, view.getBoundingClientRect().width);
  return Math.round(22 * scale);
}

let drag = null;

function framePoint(event) {
  const view = $("frame-view");
  const rect = view.getBoundingClientRect();
  return [((event.clientX - rect.left) * view.width) / rect.width, ((event.clientY - rect.top) * view.height) / rect.height];
}

$("frame-view").addEventListener("pointerdown", (event) => {
  if (!state.roi || !state.frameSize) return;
  const [x, y] = framePoint(event);
  const r = preprocess.fitRoi(state.roi, ...state.frameSize);
  const handle = handleSize();
  const inHandle = x >= r.x + r.width - handle * 1.5 && y >= r.y + r.height - handle * 1.5 &&
    x <= r.x + r.width + handle && y <= r.y + r.height + handle;
  const inside = x >= r.x && x < r.x + r.width && y >= r.y && y < r.y + r.height;
  if (!inHandle && !inside) return;
  drag = { mode: inHandle ? "resize" : "move", x, y, roi: r };
  event.target.setPointerCapture(event.pointerId);
});

$("frame-view").addEventListener("pointermove", (event) => {
  if (!drag) return;
  const [x, y] = framePoint(event);
  const [fw, fh] = state.frameSize;
  const g = state.dataset;
  if (drag.mode === "move") {
    state.roi = preprocess.fitRoi({ ...drag.roi, x: Math.round(drag.roi.x + x - drag.x),
      y: Math.round(drag.roi.y + y - drag.y) }, fw, fh);
  } else {
    // Resizing keeps the data set's aspect, and the box at least as large as the network's input.
    let w = Math.max(g.width, Math.round(drag.roi.width + x - drag.x));
    w = Math.min(w, fw - drag.roi.x, Math.floor(((fh - drag.roi.y) * g.width) / g.height));
    w = Math.max(1, w);
    const h = Math.max(1, preprocess.roundHalfEven((w * g.height) / g.width));
    state.roi = preprocess.fitRoi({ x: drag.roi.x, y: drag.roi.y, width: w, height: h }, fw, fh);
  }
});

for (const type of ["pointerup", "pointercancel"]) $("frame-view").addEventListener(type, () => { drag = null; });

// ---- Recording --------------------------------------------------------------------------------

function recording() {
  return state.holding > 0 || $("record-toggle").checked;
}

function hold(on) {
  state.holding = Math.max(0, state.holding + (on ? 1 : -1));
  $("record-hold").setAttribute("aria-pressed", String(state.holding > 0));
}

const holdButton = $("record-hold");
holdButton.addEventListener("pointerdown", (event) => { holdButton.setPointerCapture(event.pointerId); hold(true); });
holdButton.addEventListener("pointerup", () => hold(false));
holdButton.addEventListener("pointercancel", () => hold(false));
holdButton.addEventListener("contextmenu", (event) => event.preventDefault());
// The desktop's keys: hold space to record, z to start or stop; never while typing or in the key dialog.
let keyHeld = false;
function typing(event) {
  return event.target.closest("input:not([type=checkbox]), select, textarea, dialog") !== null;
}
document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || typing(event)) return;
  if (event.key === " ") {
    event.preventDefault(); // a focused button is not pressed by space here
    if (!event.repeat && !keyHeld) { keyHeld = true; hold(true); }
  } else if (event.key.toLowerCase() === "z" && !event.repeat) {
    $("record-toggle").checked = !$("record-toggle").checked;
  }
});
document.addEventListener("keyup", (event) => {
  if (event.key === " " && keyHeld) { event.preventDefault(); keyHeld = false; hold(false); }
});
window.addEventListener("blur", () => { if (keyHeld) { keyHeld = false; hold(false); } });

let judging = false;

function hashPixels(pixels) {
  let h = 0x811c9dc5; // FNV-1a
  for (let i = 0; i < pixels.length; i++) h = Math.imul(h ^ pixels[i], 0x01000193);
  return h >>> 0;
}

function meanDifference(a, b) {
  if (!a || a.length !== b.length) return Infinity;
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i] - b[i]);
  return sum / a.length;
}

async function offerFrame(result) {
  const say = (text) => { $("record-message").textContent = text; };
  const expected = result.category;
  if (!expected) return say("Choose a category to record.");
  const rate = Math.min(30, Math.max(1, Number($("rate").value) || 10));
  const now = performance.now();
  if (now - state.lastKeptTime < 1000 / rate || judging) return;
  if (meanDifference(state.lastKept, result.pixels) < DUPLICATE_THRESHOLD) return;
  const hash = `${state.dataset.id}/${expected}/${hashPixels(result.pixels)}`;
  if (state.keptHashes.has(hash)) return;
  judging = true; // one frame at a time: encoding and classifying are asynchronous
  try {
    const png = await encodePng(result);
    if ($("only-misclassified").checked) {
      let answer;
      try {
        answer = await classify(png);
      } catch {
        return say("The service cannot be reached: 'only keep misclassified' needs it to classify.");
      }
      if (answer.status === 503) return say("No model is loaded: 'only keep misclassified' keeps nothing.");
      if (!answer.ok) return say(message(answer.data, "the frame could not be classified"));
      if (answer.data.label === expected) return say(`Classified right as ${expected}: not kept.`);
    }
    state.lastKeptTime = now;
    state.lastKept = result.pixels;
    state.keptHashes.add(hash);
    await queue.add({ dataset: state.dataset.id, category: expected, data: png });
    state.kept += 1;
    state.keptBy[expected] = (state.keptBy[expected] || 0) + 1;
    say("");
  } finally {
    judging = false;
  }
  showCounters();
  deliver();
}

function encodePng(result) {
  const canvas = document.createElement("canvas");
  canvas.width = result.width; canvas.height = result.height;
  canvas.getContext("2d").putImageData(new ImageData(preprocess.toRgba(result), result.width, result.height), 0, 0);
  return new Promise((resolve) => canvas.toBlob((blob) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result.slice(reader.result.indexOf(",") + 1));
    reader.readAsDataURL(blob);
  }, "image/png"));
}

async function showCounters() {
  $("kept-count").textContent = String(state.kept);
  $("delivered-count").textContent = String(state.delivered);
  $("queue-size").textContent = String(await queue.size());
}

// ---- Delivery: the IndexedDB queue to the service, each frame once -----------------------------

let delivering = false;
let retryTimer = null;
let backoff = 500;

async function deliver() {
  if (delivering || !state.key) return;
  delivering = true;
  clearTimeout(retryTimer);
  try {
    for (;;) {
      const frames = await queue.oldest(BATCH);
      if (!frames.length) break;
      const batch = frames.filter((f) => f.dataset === frames[0].dataset);
      let answer;
      try {
        answer = await api(`/api/v1/datasets/${encodeURIComponent(batch[0].dataset)}/images`, {
          method: "POST", body: { images: batch.map((f) => ({ category: f.category, data: f.data })) },
        });
      } catch {
        retryTimer = setTimeout(deliver, backoff);
        backoff = Math.min(backoff * 2, 15000);
        break;
      }
      if (answer.status === 201) {
        await queue.remove(batch.map((f) => f.seq));
        state.delivered += batch.length;
        state.duplicates += answer.data.stored.filter((s) => s.duplicate).length;
        backoff = 500;
      } else if (answer.status === 401 || answer.status === 429 || answer.status >= 500) {
        // The key, the load or the disk: the frames wait and go once the service can take them.
        $("record-message").textContent = message(answer.data, `the service answered ${answer.status}; frames wait`);
        retryTimer = setTimeout(deliver, Math.max(backoff, 2000));
        backoff = Math.min(backoff * 2, 15000);
        break;
      } else {
        // Refused for good (a category or data set removed meanwhile): sending again cannot help.
        await queue.remove(batch.map((f) => f.seq));
        state.refused += batch.length;
        $("record-message").textContent = `${batch.length} frame(s) refused: ${message(answer.data, answer.status)}`;
      }
      await showCounters();
    }
  } finally {
    delivering = false;
    showCounters();
  }
}

window.addEventListener("online", deliver);

// ---- Live classification ----------------------------------------------------------------------

function classify(png) {
  return api("/api/v1/classify", { method: "POST", body: { data: png } });
}

let classifying = false;

async function classifyLatest() {
  if (classifying || !$("classify-live").checked || !state.latest || !state.key) return;
  if (state.modelLoaded === false && performance.now() < state.askModelAfter) return;
  classifying = true;
  const crop = state.latest;
  try {
    const answer = await classify(await encodePng(crop));
    if (answer.status === 503) {
      state.modelLoaded = false;
      state.askModelAfter = performance.now() + 2000; // ask again now and then, not four times a second
      showClassification(null, message(answer.data, "no model is loaded"));
      return;
    }
    if (!answer.ok) { showClassification(null, message(answer.data, `classify failed (${answer.status})`)); return; }
    state.modelLoaded = true;
    state.classification = answer.data;
    showClassification(answer.data, crop.category);
  } catch {
    showClassification(null, "the service cannot be reached");
  } finally {
    classifying = false;
  }
}

function showClassification(result, expectedOrReason) {
  const line = $("classify-result");
  if (!result) {
    line.className = "result";
    line.textContent = expectedOrReason;
    $("bars").replaceChildren();
    return;
  }
  const expected = expectedOrReason;
  const percent = (p) => `${(100 * p).toFixed(0)}%`;
  line.className = `result ${expected ? (result.label === expected ? "match" : "mismatch") : ""}`;
  line.dataset.label = result.label;
  line.textContent = `${result.label} ${percent(result.confidence)}` +
    (expected ? (result.label === expected ? ` = ${expected}` : ` (expected ${expected})`) : "");
  $("bars").replaceChildren(...Object.entries(result.probabilities).map(([name, p]) => {
    const bar = document.createElement("div");
    bar.className = `bar${name === expected ? " expected" : ""}`;
    const label = document.createElement("span");
    label.textContent = name;
    const track = document.createElement("div");
    track.className = "track";
    const fill = document.createElement("div");
    fill.className = "fill";
    fill.style.width = percent(p);
    track.append(fill);
    const value = document.createElement("span");
    value.textContent = percent(p);
    bar.append(label, track, value);
    return bar;
  }));
}

// ---- Evolution ------------------------------------------------------------------------------

async function showEvolution() {
  let answer;
  try { answer = await api("/api/v1/evolution/latest"); } catch { return; }
  const table = $("evolution-table");
  if (!answer.ok) {
    $("evolution-summary").textContent = message(answer.data, "No run visible to the service.");
    table.hidden = true;
    return;
  }
  const run = answer.data;
  const pct = (v) => (v === null || v === undefined ? "-" : `${(100 * v).toFixed(1)}%`);
  $("evolution-summary").textContent = `Run ${run.run_id}: generation ${run.generation} of ${run.generations}` +
    `${run.finished ? ", finished" : ""}; best so far ${pct(run.best)}.`;
  table.tBodies[0].replaceChildren(...run.history.map((g) => {
    const row = document.createElement("tr");
    for (const text of [String(g.generation), pct(g.best), pct(g.average), String(g.failed)]) row.insertCell().textContent = text;
    return row;
  }));
  table.hidden = run.history.length === 0;
}

// ---- Start --------------------------------------------------------------------------------------

async function tick() {
  if (state.key && state.dataset) {
    await loadDataset(state.dataset.id);
    showEvolution();
  }
}

async function start() {
  await queue.open();
  showCounters();
  setInterval(classifyLatest, 250);
  setInterval(tick, 2000);
  if (state.key) connect();
  else askKey();
}

start();
