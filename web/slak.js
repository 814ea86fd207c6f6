// slak.js: the browser-side helpers of the SLaK app. Go (app/browser_wasm.go)
// calls these through syscall/js and awaits the promises they return; nothing
// here computes anything the engine computes.
//
// - page-wide drag-and-drop with a visible overlay, and paste: files go to
//   globalThis.slakOnFiles(files, source), registered by Go once it is ready;
// - slakDecode: image bytes → RGBA pixels (createImageBitmap + canvas), no
//   colour management or premultiplication so pixels equal the file's;
// - slakFetch: download with progress (bytes, total);
// - slakStore: weight cache in IndexedDB (not Cache Storage: go-app's service
//   worker deletes other caches when it updates);
// - slakGPUInfo: the capability check (navigator.gpu, adapter, limits, features).
"use strict";

(function () {
  let depth = 0;
  const hasFiles = (e) =>
    e.dataTransfer && Array.from(e.dataTransfer.types || []).includes("Files");
  const setDragging = (on) =>
    document.documentElement.classList.toggle("dragging", on);

  window.addEventListener("dragenter", (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    depth++;
    setDragging(true);
  });
  window.addEventListener("dragover", (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = "copy";
  });
  window.addEventListener("dragleave", (e) => {
    if (!hasFiles(e)) return;
    depth = Math.max(0, depth - 1);
    if (depth === 0) setDragging(false);
  });
  window.addEventListener("drop", (e) => {
    e.preventDefault();
    depth = 0;
    setDragging(false);
    const files = e.dataTransfer ? Array.from(e.dataTransfer.files || []) : [];
    if (files.length && globalThis.slakOnFiles) globalThis.slakOnFiles(files, "drop");
  });
  window.addEventListener("paste", (e) => {
    const cd = e.clipboardData;
    if (!cd) return;
    let files = Array.from(cd.files || []);
    if (!files.length) {
      files = Array.from(cd.items || [])
        .filter((it) => it.kind === "file")
        .map((it) => it.getAsFile())
        .filter(Boolean);
    }
    if (!files.length) return;
    e.preventDefault();
    if (globalThis.slakOnFiles) globalThis.slakOnFiles(files, "paste");
  });
})();

// slakPick opens the hidden file input (the drop zone's button action).
globalThis.slakPick = function (inputID) {
  const input = document.getElementById(inputID);
  if (!input) return;
  input.value = "";
  input.onchange = () => {
    const files = Array.from(input.files || []);
    if (files.length && globalThis.slakOnFiles) globalThis.slakOnFiles(files, "picker");
  };
  input.click();
};

// slakDecode decodes an image Blob to RGBA8 pixels.
globalThis.slakDecode = async function (blob) {
  let bmp;
  try {
    bmp = await createImageBitmap(blob, {
      colorSpaceConversion: "none",
      premultiplyAlpha: "none",
      imageOrientation: "from-image",
    });
  } catch (err) {
    throw new Error("the browser could not decode it (" + (err && err.message ? err.message : err) + ")");
  }
  const w = bmp.width, h = bmp.height;
  const canvas = typeof OffscreenCanvas !== "undefined"
    ? new OffscreenCanvas(w, h)
    : Object.assign(document.createElement("canvas"), { width: w, height: h });
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(bmp, 0, 0);
  bmp.close();
  const img = ctx.getImageData(0, 0, w, h);
  return { width: w, height: h, data: new Uint8Array(img.data.buffer) };
};

// slakPutRGBA draws RGBA8 pixels into the canvas with the given id.
globalThis.slakPutRGBA = function (id, data, w, h) {
  const canvas = document.getElementById(id);
  if (!canvas) return false;
  canvas.width = w;
  canvas.height = h;
  const clamped = new Uint8ClampedArray(data.buffer, data.byteOffset, data.byteLength);
  canvas.getContext("2d").putImageData(new ImageData(clamped, w, h), 0, 0);
  return true;
};

// slakFetch downloads url, calling progress(loaded, total) as bytes arrive
// (total is 0 when the server does not say).
globalThis.slakFetch = async function (url, progress) {
  let resp;
  try {
    resp = await fetch(url);
  } catch (err) {
    throw new Error("network error fetching " + url + ": " + err.message);
  }
  if (!resp.ok) throw new Error("HTTP " + resp.status + " " + resp.statusText + " for " + url);
  const total = Number(resp.headers.get("Content-Length") || 0);
  const reader = resp.body.getReader();
  const chunks = [];
  let loaded = 0, last = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.byteLength;
    const now = performance.now();
    if (now - last > 100) { last = now; progress(loaded, total); }
  }
  progress(loaded, total);
  const out = new Uint8Array(loaded);
  let off = 0;
  for (const c of chunks) { out.set(c, off); off += c.byteLength; }
  return out;
};

// slakStore caches weight files in IndexedDB under a name.
globalThis.slakStore = (function () {
  const open = () => new Promise((resolve, reject) => {
    const req = indexedDB.open("slak-weights", 1);
    req.onupgradeneeded = () => req.result.createObjectStore("files", { keyPath: "name" });
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
  const tx = async (mode, fn) => {
    const db = await open();
    return new Promise((resolve, reject) => {
      const t = db.transaction("files", mode);
      const r = fn(t.objectStore("files"));
      t.oncomplete = () => { db.close(); resolve(r && r.result); };
      t.onerror = () => { db.close(); reject(t.error); };
      t.onabort = () => { db.close(); reject(t.error || new Error("IndexedDB transaction aborted")); };
    });
  };
  return {
    put: (name, data) => tx("readwrite", (s) =>
      s.put({ name, data: new Blob([data]), size: data.byteLength, saved: Date.now() })),
    get: async (name) => {
      const rec = await tx("readonly", (s) => s.get(name));
      return rec ? new Uint8Array(await rec.data.arrayBuffer()) : null;
    },
    list: async () => {
      const all = (await tx("readonly", (s) => s.getAll())) || [];
      return all.map((r) => ({ name: r.name, size: r.size, saved: r.saved }));
    },
    del: (name) => tx("readwrite", (s) => s.delete(name)),
  };
})();

// slakGPUInfo is the capability check shown in the device chip.
globalThis.slakGPUInfo = async function () {
  if (!("gpu" in navigator) || !navigator.gpu) return { available: false };
  let adapter = null;
  try {
    adapter = await navigator.gpu.requestAdapter();
  } catch (err) {
    return { available: true, adapter: false, error: String(err) };
  }
  if (!adapter) return { available: true, adapter: false };
  const info = adapter.info || {};
  return {
    available: true,
    adapter: true,
    fallback: !!(adapter.isFallbackAdapter || info.isFallbackAdapter),
    vendor: info.vendor || "",
    architecture: info.architecture || "",
    device: info.device || "",
    description: info.description || "",
    features: Array.from(adapter.features || []).sort(),
    maxStorage: adapter.limits.maxStorageBufferBindingSize,
    maxBuffer: adapter.limits.maxBufferSize,
    maxWorkgroupStorage: adapter.limits.maxComputeWorkgroupStorageSize,
  };
};
