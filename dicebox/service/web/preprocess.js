// The frame-to-network-input path of dicebox/camera (roi.py, preprocess.py), in plain JavaScript.
//
// The page never lets the canvas scale or convert pixels: it reads the frame at the camera's own
// resolution and does the crop, the grey conversion and the resize here, with OpenCV's arithmetic:
// - grey = (B*3735 + G*19235 + R*9798 + 16384) >> 15, OpenCV's fixed-point BGR2GRAY for uint8
//   (identical on all 16.7 million colours, checked against cv2.cvtColor);
// - shrinking uses OpenCV's INTER_AREA (area weights, rounded), enlarging its INTER_LINEAR
//   (11-bit fixed-point weights), as to_geometry chooses.
// The crop sent to the service is a PNG of exactly these pixels, so it is what the network sees.

/** Python's round(): halves go to the even neighbour. */
export function roundHalfEven(x) {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Roi.fitted: the box moved (and, if larger than the frame, first shrunk) to lie inside it. */
export function fitRoi(roi, frameWidth, frameHeight) {
  let { x, y, width: w, height: h } = roi;
  x = Math.trunc(x); y = Math.trunc(y); w = Math.max(1, Math.trunc(w)); h = Math.max(1, Math.trunc(h));
  if (w > frameWidth || h > frameHeight) {
    const factor = Math.min(frameWidth / w, frameHeight / h);
    const cx = x + w / 2, cy = y + h / 2;
    w = Math.max(1, Math.min(frameWidth, Math.trunc(w * factor)));
    h = Math.max(1, Math.min(frameHeight, Math.trunc(h * factor)));
    x = roundHalfEven(cx - w / 2);
    y = roundHalfEven(cy - h / 2);
  }
  x = Math.min(Math.max(x, 0), frameWidth - w);
  y = Math.min(Math.max(y, 0), frameHeight - h);
  return { x, y, width: w, height: h };
}

/** center_crop_to_aspect: the largest centred box of a w x h image with the aspect gw:gh. */
export function centerCropToAspect(w, h, gw, gh) {
  if (w * gh > h * gw) {
    const nw = Math.max(1, roundHalfEven((h * gw) / gh));
    return { x: Math.floor((w - nw) / 2), y: 0, width: nw, height: h };
  }
  const nh = Math.max(1, roundHalfEven((w * gh) / gw));
  return { x: 0, y: Math.floor((h - nh) / 2), width: w, height: nh };
}

/** Pixels of a box of an RGBA frame, as 1 (grey) or 3 (RGB) channels per pixel. */
export function cropChannels(rgba, frameWidth, box, channels) {
  const out = new Uint8Array(box.width * box.height * channels);
  let o = 0;
  for (let y = box.y; y < box.y + box.height; y++) {
    let i = (y * frameWidth + box.x) * 4;
    for (let x = 0; x < box.width; x++, i += 4) {
      if (channels === 1) {
        out[o++] = (rgba[i + 2] * 3735 + rgba[i + 1] * 19235 + rgba[i] * 9798 + 16384) >> 15;
      } else {
        out[o++] = rgba[i]; out[o++] = rgba[i + 1]; out[o++] = rgba[i + 2];
      }
    }
  }
  return out;
}

const f32 = Math.fround; // OpenCV sums in single precision

function areaTable(srcSize, dstSize) {
  // OpenCV's computeResizeAreaTab: which source pixels feed each output pixel, with what weight.
  const scale = srcSize / dstSize;
  const table = [];
  for (let d = 0; d < dstSize; d++) {
    const fs1 = d * scale, fs2 = fs1 + scale;
    const cell = Math.min(scale, srcSize - fs1);
    let s1 = Math.ceil(fs1), s2 = Math.floor(fs2);
    s2 = Math.min(s2, srcSize - 1);
    s1 = Math.min(s1, s2);
    const taps = [];
    if (s1 - fs1 > 1e-3) taps.push([s1 - 1, f32((s1 - fs1) / cell)]);
    for (let s = s1; s < s2; s++) taps.push([s, f32(1 / cell)]);
    if (fs2 - s2 > 1e-3) taps.push([s2, f32(Math.min(Math.min(fs2 - s2, 1), cell) / cell)]);
    table.push(taps);
  }
  return table;
}

function saturate(v) {
  return Math.min(255, Math.max(0, roundHalfEven(v)));
}

/** cv2.resize(..., INTER_AREA) for shrinking: every output pixel the mean of the area it covers. */
export function resizeArea(src, sw, sh, channels, dw, dh) {
  const xs = areaTable(sw, dw), ys = areaTable(sh, dh);
  const out = new Uint8Array(dw * dh * channels);
  const row = new Float32Array(dw * channels);
  for (let dy = 0; dy < dh; dy++) {
    const acc = new Float32Array(dw * channels);
    for (const [sy, wy] of ys[dy]) {
      row.fill(0);
      const base = sy * sw * channels;
      for (let dx = 0; dx < dw; dx++) {
        for (const [sx, wx] of xs[dx]) {
          for (let c = 0; c < channels; c++) row[dx * channels + c] = f32(row[dx * channels + c] + f32(src[base + sx * channels + c] * wx));
        }
      }
      for (let k = 0; k < row.length; k++) acc[k] = f32(acc[k] + f32(row[k] * wy));
    }
    for (let k = 0; k < acc.length; k++) out[dy * dw * channels + k] = saturate(acc[k]);
  }
  return out;
}

function linearTable(srcSize, dstSize) {
  const scale = srcSize / dstSize;
  const table = [];
  for (let d = 0; d < dstSize; d++) {
    let f = (d + 0.5) * scale - 0.5;
    let s = Math.floor(f);
    f -= s;
    if (s < 0) { f = 0; s = 0; }
    if (s >= srcSize - 1) { f = 0; s = srcSize - 1; }
    const w0 = Math.round((1 - f) * 2048);
    table.push([s, Math.min(s + 1, srcSize - 1), w0, 2048 - w0]);
  }
  return table;
}

/** cv2.resize(..., INTER_LINEAR) for enlarging, with OpenCV's fixed-point weights and rounding. */
export function resizeLinear(src, sw, sh, channels, dw, dh) {
  const xs = linearTable(sw, dw), ys = linearTable(sh, dh);
  const out = new Uint8Array(dw * dh * channels);
  const horizontal = (sy) => {
    const row = new Int32Array(dw * channels);
    for (let dx = 0; dx < dw; dx++) {
      const [s0, s1, a0, a1] = xs[dx];
      for (let c = 0; c < channels; c++) {
        row[dx * channels + c] = src[(sy * sw + s0) * channels + c] * a0 + src[(sy * sw + s1) * channels + c] * a1;
      }
    }
    return row;
  };
  for (let dy = 0; dy < dh; dy++) {
    const [s0, s1, b0, b1] = ys[dy];
    const r0 = horizontal(s0), r1 = horizontal(s1);
    for (let k = 0; k < r0.length; k++) {
      const v = (((b0 * (r0[k] >> 4)) >> 16) + ((b1 * (r1[k] >> 4)) >> 16) + 2) >> 2;
      out[dy * dw * channels + k] = Math.min(255, Math.max(0, v));
    }
  }
  return out;
}

/**
 * preprocess_roi: crop `roi` from an RGBA frame and bring it to `geometry` ({width, height, channels}).
 * Returns {pixels (H*W*C, grey or RGB), width, height, channels, box (the fitted ROI)}.
 */
export function preprocessRoi(rgba, frameWidth, frameHeight, roi, geometry) {
  const { width: gw, height: gh, channels } = geometry;
  const box = fitRoi(roi, frameWidth, frameHeight);
  let pixels = cropChannels(rgba, frameWidth, box, channels);
  if (box.width !== gw || box.height !== gh) {
    const c = centerCropToAspect(box.width, box.height, gw, gh);
    const inner = cropChannels(rgba, frameWidth, { x: box.x + c.x, y: box.y + c.y, width: c.width, height: c.height },
      channels);
    const shrinking = c.width > gw;
    const areaPossible = c.width >= gw && c.height >= gh;
    pixels = shrinking && areaPossible
      ? resizeArea(inner, c.width, c.height, channels, gw, gh)
      : resizeLinear(inner, c.width, c.height, channels, gw, gh);
  }
  return { pixels, width: gw, height: gh, channels, box };
}

/** The pixels as RGBA for a canvas (grey repeated in R, G and B; opaque). */
export function toRgba(result) {
  const { pixels, width, height, channels } = result;
  const out = new Uint8ClampedArray(width * height * 4);
  for (let p = 0, i = 0; p < width * height; p++, i += 4) {
    if (channels === 1) {
      out[i] = out[i + 1] = out[i + 2] = pixels[p];
    } else {
      out[i] = pixels[p * 3]; out[i + 1] = pixels[p * 3 + 1]; out[i + 2] = pixels[p * 3 + 2];
    }
    out[i + 3] = 255;
  }
  return out;
}
