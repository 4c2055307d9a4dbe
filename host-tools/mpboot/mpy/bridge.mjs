// Runs the real MicroPython (official WebAssembly port) for the Python host.
//
// The host talks to this process over stdin/stdout in frames:
//   u32 LE header length, u32 LE body length, header (JSON), body (bytes).
// Host -> bridge: {t:"boot", heap} starts a fresh interpreter; {t:"file", path} + body
// writes a file into its filesystem; {t:"run", code} executes code in it.
// Bridge -> host: {t:"ready"}, {t:"out", s} for each line printed, {t:"call", ...} when
// MicroPython code calls _host.call(), {t:"done", ok, exc, halted} when a run ends.
//
// _host.call(op, arg, addr, n, send) is synchronous: the bridge blocks on stdin for the
// host's {t:"ret", v} reply. Buffers cross without copies through the proxy layer: with
// send=1 the n bytes at WebAssembly address addr go to the host as the body; a reply body
// is copied to addr (at most n bytes). A reply {t:"halt"} stops the interpreter at once
// (a power cut or a reset): the run ends with halted=true.
import fs from "node:fs";
import { pathToFileURL } from "node:url";

let wasmMemory = null;
const instantiate = WebAssembly.instantiate;
WebAssembly.instantiate = async (...args) => {
  const result = await instantiate(...args);
  const instance = result.instance || result;
  if (instance.exports && instance.exports.memory) wasmMemory = instance.exports.memory;
  return result;
};
// argv[2]: the port's micropython.mjs, located by the host (see runtime.py).
const { loadMicroPython } = await import(pathToFileURL(process.argv[2]).href);

class Halt extends Error {}

function readExact(n) {
  const buf = Buffer.alloc(n);
  let got = 0;
  while (got < n) {
    let r;
    try {
      r = fs.readSync(0, buf, got, n - got, null);
    } catch (e) {
      if (e.code === "EAGAIN") continue;
      throw e;
    }
    if (r === 0) process.exit(0);
    got += r;
  }
  return buf;
}

function readFrame() {
  const lens = readExact(8);
  const header = JSON.parse(readExact(lens.readUInt32LE(0)).toString("utf8"));
  const blen = lens.readUInt32LE(4);
  return [header, blen ? readExact(blen) : Buffer.alloc(0)];
}

function writeFrame(header, body) {
  const h = Buffer.from(JSON.stringify(header), "utf8");
  const b = body ? Buffer.from(body.buffer, body.byteOffset, body.byteLength) : Buffer.alloc(0);
  const lens = Buffer.alloc(8);
  lens.writeUInt32LE(h.length, 0);
  lens.writeUInt32LE(b.length, 4);
  const all = Buffer.concat([lens, h, b]);
  let off = 0;
  while (off < all.length) {
    try {
      off += fs.writeSync(1, all, off, all.length - off);
    } catch (e) {
      if (e.code !== "EAGAIN") throw e;
    }
  }
}

function hostCall(op, arg, addr, n, send) {
  const body = send && n ? new Uint8Array(wasmMemory.buffer, addr, n).slice() : null;
  writeFrame({ t: "call", op: String(op), arg: arg === undefined || arg === null ? null : String(arg), n }, body);
  const [reply, data] = readFrame();
  if (reply.t === "halt") throw new Halt(reply.why || "halt");
  if (data.length) {
    // The view is made after the reply: memory may have grown (and its buffer changed).
    new Uint8Array(wasmMemory.buffer, addr, Math.min(n, data.length)).set(data.subarray(0, n));
  }
  return reply.v === undefined ? null : reply.v;
}

let mp = null;
async function boot(heap) {
  mp = await loadMicroPython({
    heapsize: heap || 1024 * 1024,
    stdout: (line) => writeFrame({ t: "out", s: line }),
    stderr: (line) => writeFrame({ t: "out", s: line }),
    linebuffer: true,
  });
  mp.registerJsModule("_host", { call: hostCall });
  mp.FS.mkdirTree("/lib");
}

function putFile(path, data) {
  const dir = path.substring(0, path.lastIndexOf("/"));
  if (dir) mp.FS.mkdirTree(dir);
  mp.FS.writeFile(path, data);
}

function run(code) {
  try {
    mp.runPython(code);
    writeFrame({ t: "done", ok: true });
  } catch (e) {
    if (e instanceof Halt) {
      writeFrame({ t: "done", ok: false, halted: true, exc: e.message });
    } else {
      // A Python exception arrives as a PythonError whose message is the traceback text.
      writeFrame({ t: "done", ok: false, halted: false, exc: String(e && e.message ? e.message : e) });
    }
  }
}

writeFrame({ t: "ready" });
for (;;) {
  const [msg, body] = readFrame();
  if (msg.t === "boot") {
    await boot(msg.heap);
    writeFrame({ t: "booted" });
  } else if (msg.t === "file") {
    putFile(msg.path, body);
    writeFrame({ t: "ok" });
  } else if (msg.t === "run") {
    run(msg.code);
  } else if (msg.t === "exit") {
    process.exit(0);
  }
}
