// tokcount playground: one request, several models, counts side by side (no external scripts or hosts).
"use strict";
const $ = (id) => document.getElementById(id);
// the dialects the server offers: it writes them into the page's selector (every dialect declaring playground)
const DIALECTS = Array.from($("dialect").options, (o) => o.value).filter((v) => v !== "auto");
const EXAMPLE = { messages: [{ role: "system", content: "You are a helpful assistant." },
  { role: "user", content: "How many tokens is this sentence, héllo wörld 日本?" }] };

function headers() {
  const h = { "Content-Type": "application/json" };
  const key = $("key").value.trim();
  if (key) h.Authorization = "Bearer " + key;
  return h;
}

// which request shape a pasted body is in (what the dialect selector's "auto" means); null: it looks like JSON
// (starts with { or [) but does not parse, which is a mistake to show, not plain text to count
function detect(text) {
  let body;
  try { body = JSON.parse(text); } catch (e) { return /^\s*[[{]/.test(text) ? null : "text"; }
  if (Array.isArray(body)) return "openai-chat";
  if (body === null || typeof body !== "object") return "text";
  if (body.contents || body.generateContentRequest) return "gemini";
  if (body.input !== undefined) return "openai-responses";
  if (body.prompt !== undefined) return "vllm";
  const msgs = Array.isArray(body.messages) ? body.messages : [];
  const blocks = msgs.flatMap((m) => (Array.isArray(m.content) ? m.content : []));
  if (body.system !== undefined || blocks.some((b) => ["tool_use", "tool_result", "image", "document"].includes(b.type)))
    return "anthropic";
  return "openai-chat";
}

// GPT-2 byte-level token strings back to bytes (Ġ = space, Ċ = newline, ...)
const BYTE_OF = (() => {
  const bs = [];
  for (let i = 33; i <= 126; i++) bs.push(i);
  for (let i = 161; i <= 172; i++) bs.push(i);
  for (let i = 174; i <= 255; i++) bs.push(i);
  const cs = bs.slice();
  let n = 0;
  for (let b = 0; b < 256; b++) if (!bs.includes(b)) { bs.push(b); cs.push(256 + n); n++; }
  const map = new Map();
  bs.forEach((b, i) => map.set(String.fromCharCode(cs[i]), b));
  return map;
})();

function displayStrings(strs) {
  const byteLevel = strs.some((s) => /[ĠĊ]/.test(s));
  if (!byteLevel) return strs.map((s) => s.replace(/▁/g, " "));
  const dec = new TextDecoder("utf-8");
  return strs.map((s) => {
    if (/^<[^<>]+>$/.test(s) || /^<\|.*\|>$/.test(s)) return s;
    const bytes = [];
    for (const ch of s) { if (!BYTE_OF.has(ch)) return s; bytes.push(BYTE_OF.get(ch)); }
    return dec.decode(new Uint8Array(bytes), { stream: true });
  });
}

// names in order with their numbers compared as numbers (gpt-4.1 before gpt-4.10, claude-3-5 before claude-3-10)
function natural(a, b) {
  const x = a.match(/\d+|\D+/g) || [], y = b.match(/\d+|\D+/g) || [];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] === y[i]) continue;
    if (/^\d/.test(x[i]) && /^\d/.test(y[i])) return Number(x[i]) - Number(y[i]);
    return x[i] < y[i] ? -1 : 1;
  }
  return x.length - y.length;
}

async function loadModels(selected) {
  const list = $("model-list");
  try {
    const r = await fetch("/v1/models", { headers: headers() });
    const body = await r.json();
    if (!r.ok) throw new Error((body.error && body.error.message) || r.statusText);
    list.textContent = "";
    // in name order (the catalog's order put claude-opus-4-7 last of 68)
    const models = body.data.slice().sort((a, b) => natural(a.id, b.id));
    for (const m of models) {
      const label = document.createElement("label");
      const box = document.createElement("input");
      box.type = "checkbox"; box.value = m.id; box.name = "model";
      if (m.available) {
        box.checked = selected ? selected.includes(m.id) : m.default;
      } else {  // its files are not on this server: every count would be a 404
        box.disabled = true;
        label.className = "na";
        label.title = "not available here: its files are not on this server (tokcount pull " + m.id + ")";
      }
      label.append(box, " " + m.id);
      list.append(label);
    }
    const ticked = (s) => models.some((m) => m.id === s && m.available);
    if (selected) $("extra-models").value = selected.filter((s) => !ticked(s)).join(", ");
  } catch (e) {
    list.textContent = "could not list models (" + e.message + "); type names below.";
    if (selected) $("extra-models").value = selected.join(", ");
  }
}

function chosenModels() {
  const boxes = [...document.querySelectorAll("#model-list input:checked")].map((b) => b.value);
  const extra = $("extra-models").value.split(",").map((s) => s.trim()).filter(Boolean);
  return [...new Set([...boxes, ...extra])];
}

function chosenDialect(text) {
  const d = $("dialect").value;
  const dialect = d === "auto" ? detect(text) : d;
  $("detected").textContent = d === "auto" ? "(" + (dialect || "not valid JSON") + ")" : "";
  return dialect;
}

function apiAnswer(answer) {
  if (!answer) return "";
  for (const k of ["input_tokens", "totalTokens", "count"]) if (typeof answer[k] === "number") return answer[k];
  if (answer.data && typeof answer.data.total_tokens === "number") return answer.data.total_tokens;
  return "";
}

function cell(row, text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  row.append(td);
  return td;
}

function renderResults(results) {
  const tbody = $("results").querySelector("tbody");
  tbody.textContent = "";
  $("details").textContent = "";
  for (const res of results) {
    const tr = document.createElement("tr");
    tr.dataset.model = res.model;
    cell(tr, res.model);
    if (res.error) {
      cell(tr, res.status + " " + res.error.type, "err").colSpan = 1;
      cell(tr, ""); cell(tr, ""); cell(tr, "");
      cell(tr, res.error.message, "err");
      tbody.append(tr);
      continue;
    }
    const c = res.count;
    cell(tr, String(c.input_tokens), "n count");
    cell(tr, c.exact ? "exact" : "estimate", c.exact ? "yes exact" : "no exact");
    cell(tr, c.method, "method");
    cell(tr, String(apiAnswer(res.answer)), "api");
    const notes = cell(tr, "", "notes");
    if (c.notes && c.notes.length) {  // one item per note: joined with spaces they read as one run-on sentence
      const ul = document.createElement("ul");
      for (const n of c.notes) { const li = document.createElement("li"); li.textContent = n; ul.append(li); }
      notes.append(ul);
    }
    tbody.append(tr);
    $("details").append(detail(res));
  }
  $("output").hidden = false;
}

function detail(res) {
  const c = res.count;
  const box = document.createElement("div");
  box.className = "model-detail";
  const h = document.createElement("h3");
  h.textContent = res.model + " — " + c.input_tokens + " tokens";
  box.append(h);
  if (c.breakdown) {
    const t = document.createElement("table");
    t.className = "breakdown";
    const b = c.breakdown;
    const rows = [["system", b.system], ["tools", b.tools], ["template", b.template]];
    (b.messages || []).forEach((n, i) => rows.push(["messages[" + i + "]", n]));
    for (const [k, v] of rows) {
      if (v === undefined) continue;
      const tr = document.createElement("tr");
      cell(tr, k); cell(tr, typeof v === "object" ? JSON.stringify(v) : String(v));
      t.append(tr);
    }
    box.append(t);
  }
  const strs = c.token_strings;
  const tokens = document.createElement("div");
  tokens.className = "tokens";
  if (strs && strs.length) {
    const shown = displayStrings(strs);
    shown.forEach((s, i) => {
      const span = document.createElement("span");
      span.textContent = s;
      span.className = /^<[^<>]+>$|^<\|.*\|>$|^\[.*\]$/.test(strs[i]) ? "special" : "t" + (i % 5);
      span.title = "#" + i + " id " + (c.tokens ? c.tokens[i] : "?") + " " + JSON.stringify(strs[i]);
      tokens.append(span);
    });
  } else {
    tokens.textContent = "no token view: " + (res.omitted || "this model's count is not made of public token ids");
  }
  box.append(tokens);
  return box;
}

async function count() {
  const text = $("request").value;
  const dialect = chosenDialect(text);
  const models = chosenModels();
  if (!models.length) { status("pick at least one model", true); return; }
  let request = text;
  if (dialect !== "text") {
    try { request = JSON.parse(text); } catch (e) {
      status("not valid JSON: " + e.message + " (choose the dialect text to count it as plain text)", true);
      return;
    }
  }
  status("counting…");
  try {
    const r = await fetch("/v1/playground/count", { method: "POST", headers: headers(),
      body: JSON.stringify({ dialect, models, request }) });
    const body = await r.json();
    if (!r.ok) { status(r.status + ": " + ((body.error && body.error.message) || r.statusText), true); return; }
    renderResults(body.results);
    const failed = body.results.filter((res) => res.error).length;
    const n = models.length;
    if (failed) status("counted for " + (n - failed) + " of " + n + " models; " + failed + " failed (see the table)",
      true);
    else status("counted for " + n + " model" + (n > 1 ? "s" : ""));
  } catch (e) {
    status("request failed: " + e.message, true);
  }
}

function status(msg, err) {
  $("status").textContent = msg;
  $("status").className = err ? "err" : "";
}

// share link: the request, dialect and models in the URL fragment (never sent to a server; the key never in it)
function toFragment(state) {
  const bytes = new TextEncoder().encode(JSON.stringify(state));
  let bin = "";
  bytes.forEach((b) => { bin += String.fromCharCode(b); });
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromFragment(frag) {
  const b64 = frag.replace(/-/g, "+").replace(/_/g, "/");
  const bin = atob(b64 + "===".slice((b64.length + 3) % 4));
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0))));
}

function share() {
  const state = { r: $("request").value, d: $("dialect").value, m: chosenModels() };
  const url = location.origin + location.pathname + "#" + toFragment(state);
  history.replaceState(null, "", url);
  $("share-url").value = url;
}

async function init() {
  $("key").value = sessionStorage.getItem("tokcount-key") || "";
  let lastKey = $("key").value;
  $("key").addEventListener("change", () => {  // a new key: list the models again, keeping what was ticked
    if ($("key").value === lastKey) return;
    lastKey = $("key").value;
    sessionStorage.setItem("tokcount-key", lastKey);
    const ticked = chosenModels();
    loadModels(ticked.length ? ticked : null);
  });
  $("count").addEventListener("click", count);
  $("share").addEventListener("click", share);
  $("request").addEventListener("input", () => chosenDialect($("request").value));
  let state = null;
  if (location.hash.length > 1) {
    try { state = fromFragment(location.hash.slice(1)); } catch (e) { status("the link's fragment is not readable", true); }
  }
  $("request").value = state ? state.r : JSON.stringify(EXAMPLE, null, 2);
  if (state && DIALECTS.concat("auto").includes(state.d)) $("dialect").value = state.d;
  chosenDialect($("request").value);
  await loadModels(state ? state.m : null);
  if (state) count();
}

init();
