// The pssr web page: plain JS over the /v1 API. Every API call sends the
// token (when one is entered) as a bearer header, so events are read with
// fetch rather than EventSource, and images and downloads go through blobs
// when a token is needed.
"use strict";

const $ = (id) => document.getElementById(id);
const tokenInput = $("token");
tokenInput.value = localStorage.getItem("pssr-token") || "";
tokenInput.addEventListener("change", () => localStorage.setItem("pssr-token", tokenInput.value));

function headers() {
  const t = tokenInput.value.trim();
  return t ? { Authorization: "Bearer " + t } : {};
}

async function api(path, opt = {}) {
  const res = await fetch(path, { ...opt, headers: { ...(opt.headers || {}), ...headers() } });
  if (!res.ok) {
    let msg = res.status + " " + res.statusText;
    try { msg = (await res.json()).error || msg; } catch (e) { /* not JSON */ }
    throw new Error(msg);
  }
  return res;
}

function say(text, error) {
  $("message").textContent = text;
  $("message").className = error ? "error" : "";
}

let current = null; // the job shown
let urls = [];      // object URLs to release

$("form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const file = $("file").files[0];
  if (!file) { say("Choose a video first.", true); return; }
  const form = new FormData();
  form.append("scale", $("scale").value);
  form.append("mode", $("mode").value);
  form.append("codec", $("codec").value);
  form.append("file", file, file.name);
  $("submit").disabled = true;
  say("Uploading " + file.name + "…");
  try {
    const { id } = await (await api("/v1/jobs", { method: "POST", body: form })).json();
    say("Submitted job " + id + ".");
    watch(id);
  } catch (e) {
    say("Upload failed: " + e.message, true);
  } finally {
    $("submit").disabled = false;
    refreshList();
  }
});

function fmtSeconds(s) {
  if (!isFinite(s) || s <= 0) return "";
  return s < 90 ? Math.round(s) + " s" : Math.round(s / 60) + " min";
}

function show(job) {
  if (!current || job.id !== current) return;
  $("job").hidden = false;
  $("job-id").textContent = job.id;
  $("job-name").textContent = job.name || "";
  const st = $("state");
  st.textContent = job.state;
  st.className = "state " + job.state;
  const parts = [];
  if (job.frames_total) parts.push(job.frames_done + " / " + job.frames_total + " frames");
  if (job.state === "running" && job.fps) parts.push(job.fps.toFixed(2) + " fps");
  if (job.state === "running" && job.eta_s) parts.push("about " + fmtSeconds(job.eta_s) + " left");
  if (job.error) parts.push(job.error);
  $("detail").textContent = parts.join(" · ");
  $("progress").value = job.frames_total ? job.frames_done / job.frames_total : 0;
  showChunks(job.chunks || []);
  if (job.state === "done") showResult(job);
}

// showChunks lists a distributed job's chunks (pssr serve --nats): frames,
// state and the worker holding each.
function showChunks(chunks) {
  const list = $("chunks");
  list.hidden = chunks.length === 0;
  list.replaceChildren();
  for (const c of chunks) {
    const li = document.createElement("li");
    li.className = "chunk " + c.state;
    li.textContent = "frames " + c.start + "-" + (c.end - 1) + ": " + c.state + (c.worker ? " on " + c.worker : "") + (c.attempt > 1 ? " (attempt " + c.attempt + ")" : "");
    list.append(li);
  }
}

async function blobURL(path) {
  const res = await api(path);
  const u = URL.createObjectURL(await res.blob());
  urls.push(u);
  return u;
}

async function showResult(job) {
  if ($("result").dataset.job === job.id) return;
  $("result").dataset.job = job.id;
  const frame = Math.floor((job.frames_total || 1) / 2);
  const base = "/v1/jobs/" + job.id;
  try {
    const [b, a] = await Promise.all([
      blobURL(base + "/preview?which=before&frame=" + frame),
      blobURL(base + "/preview?which=after&frame=" + frame),
    ]);
    $("before").src = b;
    $("after").src = a;
    const link = $("download");
    const ext = { ffv1: ".mkv", vp9: ".webm" }[job.options.codec] || ".mp4";
    link.download = (job.name || "video").replace(/\.[^.]*$/, "") + "-x" + job.options.scale + ext;
    link.href = headers().Authorization ? await blobURL(base + "/result") : base + "/result";
    $("result").hidden = false;
  } catch (e) {
    say("Cannot show the result: " + e.message, true);
  }
}

$("slider").addEventListener("input", (ev) => {
  const v = ev.target.value;
  $("after").style.clipPath = "inset(0 0 0 " + v + "%)";
  $("handle").style.left = v + "%";
});

// watch follows a job's events until it ends, reconnecting when the stream
// breaks.
async function watch(id) {
  current = id;
  urls.forEach(URL.revokeObjectURL);
  urls = [];
  $("result").hidden = true;
  delete $("result").dataset.job;
  while (current === id) {
    let last = null;
    try {
      const res = await api("/v1/jobs/" + id + "/events");
      const reader = res.body.getReader();
      const dec = new TextDecoder();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let i;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          let event = "message", data = "";
          for (const line of block.split("\n")) {
            if (line.startsWith("event: ")) event = line.slice(7);
            else if (line.startsWith("data: ")) data += line.slice(6);
          }
          if (event === "job") { last = JSON.parse(data); show(last); refreshList(); }
          if (event === "deleted") { say("Job " + id + " was deleted."); current = null; return; }
        }
      }
    } catch (e) {
      say("Lost the job's progress: " + e.message + "; retrying…", true);
    }
    if (last && ["done", "failed", "canceled"].includes(last.state)) return;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

async function refreshList() {
  let list;
  try {
    list = (await (await api("/v1/jobs")).json()).jobs;
  } catch (e) {
    return;
  }
  const body = $("jobs");
  body.replaceChildren();
  for (const j of list.slice().reverse()) {
    const tr = document.createElement("tr");
    for (const text of [j.id, j.name, j.state, j.frames_total ? j.frames_done + "/" + j.frames_total : ""]) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.append(td);
    }
    const td = document.createElement("td");
    const view = document.createElement("button");
    view.textContent = "show";
    view.onclick = () => watch(j.id);
    const del = document.createElement("button");
    del.textContent = "delete";
    del.onclick = async () => { try { await api("/v1/jobs/" + j.id, { method: "DELETE" }); } catch (e) { say(e.message, true); } refreshList(); };
    td.append(view, " ", del);
    tr.append(td);
    body.append(tr);
  }
}

refreshList();
setInterval(refreshList, 5000);
