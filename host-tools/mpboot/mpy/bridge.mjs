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
//
// The REPL (a board's serial console, see emulator/console.py): {t:"repl_init", raw} starts
// MicroPython's event-driven REPL (friendly, or raw as after a soft reset in raw mode), and
// {t:"rx"} + body feeds it the bytes typed at the console. While the REPL drives the
// interpreter its output leaves as raw bytes, {t:"tx"} + body (prompts end without a newline),
// sent before every host call and at the end. Reads from sys.stdin take the console's bytes too,
// in order: what is left of the current rx, then {t:"stdin"}, answered by {t:"ret"} + body
// (empty: end of input). The REPL step ends with {t:"done", ok, exit} + the unconsumed bytes;
// exit is pyexec's nonzero result when the REPL asked for a soft reset (Ctrl-D, SystemExit).
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
  flushTx();
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

// Output: lines ({t:"out", s}) as the port's own line buffer would make them, except while the
// REPL runs: then raw bytes, collected in `tx`.
const decoder = new TextDecoder();
const lines = { out: [], err: [] };
let repl = false;
let tx = [];
function output(stream) {
  return (bytes) => {
    const line = lines[stream];
    for (const c of bytes) {
      if (repl) {
        tx.push(c);
      } else if (c === 10) {
        writeFrame({ t: "out", s: decoder.decode(new Uint8Array(line)) });
        line.length = 0;
      } else {
        line.push(c);
      }
    }
  };
}

function flushTx() {
  if (tx.length) {
    writeFrame({ t: "tx" }, Uint8Array.from(tx));
    tx = [];
  }
}

// Console input not consumed yet: the REPL and sys.stdin read it in order.
let rx = Buffer.alloc(0);
let rxPos = 0;
function stdinChar() {
  if (rxPos >= rx.length) {
    flushTx();
    writeFrame({ t: "stdin" });
    const [, data] = readFrame();
    rx = data;
    rxPos = 0;
    if (!rx.length) return null; // end of input
  }
  return rx[rxPos++];
}

let mp = null;
async function boot(heap) {
  repl = false;
  tx = [];
  lines.out.length = lines.err.length = 0;
  rx = Buffer.alloc(0);
  rxPos = 0;
  mp = await loadMicroPython({
    heapsize: heap || 1024 * 1024,
    stdout: output("out"),
    stderr: output("err"),
    stdin: stdinChar,
    linebuffer: false,
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
  repl = false; // code the host runs itself prints lines again
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

function replStep(fn) {
  // Runs REPL work; reports how it ended, with the console bytes not consumed yet.
  let header;
  try {
    header = { t: "done", ok: true, exit: fn() || 0 };
  } catch (e) {
    header = e instanceof Halt
      ? { t: "done", ok: false, halted: true, exc: e.message }
      : { t: "done", ok: false, halted: false, exc: String(e && e.message ? e.message : e) };
  }
  flushTx();
  const rest = rx.subarray(rxPos);
  rx = Buffer.alloc(0);
  rxPos = 0;
  writeFrame(header, rest);
}

function replInit(raw) {
  // What boot.py/main.py left unterminated goes out first, as it would on a UART.
  repl = true;
  for (const stream of ["out", "err"]) {
    tx.push(...lines[stream]);
    lines[stream].length = 0;
  }
  flushTx();
  replStep(() => {
    mp.replInit();
    if (raw) {
      // In raw mode a board prints only the raw REPL's greeting, not the friendly banner.
      tx = [];
      mp.replProcessChar(1);
      if (tx[0] === 13 && tx[1] === 10) tx.splice(0, 2);
    }
  });
}

function replInput(data) {
  rx = Buffer.concat([rx.subarray(rxPos), data]);
  rxPos = 0;
  replStep(() => {
    while (rxPos < rx.length) {
      const exit = mp.replProcessChar(rx[rxPos++]);
      if (exit) return exit;
    }
    return 0;
  });
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
  } else if (msg.t === "repl_init") {
    replInit(msg.raw);
  } else if (msg.t === "rx") {
    replInput(body);
  } else if (msg.t === "exit") {
    process.exit(0);
  }
}
