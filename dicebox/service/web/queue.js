// Frames waiting for the service, kept in IndexedDB so a closed tab or a lost network loses none.
//
// A frame leaves the queue only after the service answered 201 for it. If the answer is lost after
// the service stored it, the frame is sent again and the store keeps it once: the store is
// idempotent by pixels (the same PNG twice is one image). So every frame arrives exactly once.

const DB_NAME = "dicebox-web";
const STORE = "outbox";

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

export class FrameQueue {
  constructor() {
    this.db = null;
  }

  async open() {
    const req = indexedDB.open(DB_NAME, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE, { keyPath: "seq", autoIncrement: true });
    this.db = await request(req);
    return this;
  }

  _store(mode) {
    return this.db.transaction(STORE, mode).objectStore(STORE);
  }

  /** Queue one frame: {dataset, category, data (base64 PNG)}. */
  async add(frame) {
    return request(this._store("readwrite").add({ ...frame, queued: Date.now() }));
  }

  /** The oldest `limit` frames, in recording order. */
  async oldest(limit) {
    const store = this._store("readonly");
    return new Promise((resolve, reject) => {
      const out = [];
      const cursor = store.openCursor();
      cursor.onsuccess = () => {
        const c = cursor.result;
        if (!c || out.length >= limit) return resolve(out);
        out.push(c.value);
        c.continue();
      };
      cursor.onerror = () => reject(cursor.error);
    });
  }

  async remove(seqs) {
    const tx = this.db.transaction(STORE, "readwrite");
    for (const seq of seqs) tx.objectStore(STORE).delete(seq);
    return new Promise((resolve, reject) => {
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error);
    });
  }

  async size() {
    return request(this._store("readonly").count());
  }
}
