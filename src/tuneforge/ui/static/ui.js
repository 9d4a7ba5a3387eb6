// TuneForge web interface: a little vanilla JavaScript, no libraries. Pages work without it except for
// live progress; nothing here writes HTML (textContent only).
"use strict";

function $(selector, root) { return (root || document).querySelector(selector); }
function $all(selector, root) { return Array.from((root || document).querySelectorAll(selector)); }

// ---- new run: kinds, option fieldsets, the YAML ----
function showKind(form) {
  const checked = $("input[name=kind]:checked", form);
  const kind = checked ? checked.value : "train";
  $all("fieldset.kind-compare", form).forEach(f => { f.hidden = kind !== "compare"; });
  $all("fieldset.kind-tune", form).forEach(f => { f.hidden = kind !== "tune"; });
}

function showOptions(section, name) {
  $all(`fieldset.options[data-section="${section}"]`).forEach(f => { f.hidden = f.dataset.name !== name; });
}

function changedOptions(section, name) {
  const values = {};
  const fieldset = $all(`fieldset.options[data-section="${section}"]`).find(f => f.dataset.name === name);
  if (!fieldset) return values;
  $all("input, select", fieldset).forEach(input => {
    const key = input.name.slice(section.length + 1);
    const value = input.type === "checkbox" ? String(input.checked) : input.value;
    if (value !== input.dataset.default) values[key] = value;
  });
  return values;
}

let yamlTimer = null;
function updateYaml() {
  clearTimeout(yamlTimer);
  yamlTimer = setTimeout(sendYaml, 150);
}

async function sendYaml() {
  const task = $("#task-select"), method = $("#method-select"), error = $("#yaml-error");
  if (!task || !method) return;
  const body = {
    data: $("#form-data").value, name: $("#run-name").value, task: task.value, method: method.value,
    model: $("#model-input").value, task_options: changedOptions("task", task.value),
    method_options: changedOptions("method", method.value),
  };
  const form = $("#run-form");
  form.dataset.updating = "1";
  try {
    const response = await fetch("/api/yaml", {
      method: "POST", headers: {"Content-Type": "application/json", "Accept": "application/json"},
      body: JSON.stringify(body), credentials: "same-origin",
    });
    const answer = await response.json();
    if (answer.yaml !== undefined) {
      $("#yaml").value = answer.yaml;
      error.hidden = true;
    } else {
      error.textContent = answer.error || "could not write the YAML";
      error.hidden = false;
    }
  } catch (exc) {
    error.textContent = "could not reach the server: " + exc;
    error.hidden = false;
  } finally {
    delete form.dataset.updating;
  }
}

function setUpNewRun() {
  const form = $("#run-form");
  if (!form) return;
  $all("input[name=kind]", form).forEach(r => r.addEventListener("change", () => showKind(form)));
  showKind(form);
  const task = $("#task-select"), method = $("#method-select");
  if (task) task.addEventListener("change", () => { showOptions("task", task.value); updateYaml(); });
  if (method) method.addEventListener("change", () => { showOptions("method", method.value); updateYaml(); });
  $all("fieldset.options input, fieldset.options select").forEach(i => i.addEventListener("change", updateYaml));
  ["#model-input", "#run-name"].forEach(s => { const i = $(s); if (i && task) i.addEventListener("change", updateYaml); });
  const button = $("#update-yaml");
  if (button) button.addEventListener("click", sendYaml);
}

// ---- a job, followed live ----
function fillRows(table, status) {
  const body = $("tbody", table);
  if (!body) return;
  body.replaceChildren();
  const rows = status.rows.length ? status.rows : status.trials;
  rows.forEach(row => {
    const tr = document.createElement("tr");
    Object.entries(row).forEach(([key, value]) => {
      const th = document.createElement("th"), td = document.createElement("td");
      th.textContent = key;
      td.textContent = typeof value === "number" && !Number.isInteger(value) ? value.toFixed(4) : (value ?? "");
      tr.append(th, td);
    });
    body.append(tr);
  });
}

async function pollJob(box) {
  let status;
  try {
    const response = await fetch(`/api/jobs/${encodeURIComponent(box.dataset.job)}`,
                                 {headers: {"Accept": "application/json"}, credentials: "same-origin"});
    status = await response.json();
  } catch (exc) {
    setTimeout(() => pollJob(box), 2000);
    return;
  }
  if (status.state !== "running") {
    if (box.dataset.state === "running") { window.location.reload(); }
    return;
  }
  $("#job-state").textContent = status.state;
  if (status.percent !== null) $("#progress").value = status.percent;
  $("#steps").textContent = status.total ? `step ${status.step} of ${status.total}` : "";
  $("#eta").textContent = status.eta ? `ETA ${status.eta}` : "";
  $("#loss").textContent = status.loss !== null ? `loss ${status.loss}` : "";
  $("#activity").textContent = status.bar || "";
  $("#evaluation").textContent = status.evaluation
    ? `evaluation at step ${status.evaluation.step}: ${status.evaluation.scores}` : "";
  $("#compare-now").textContent = status.compare
    ? `method ${status.compare.number} of ${status.compare.of}: ${status.compare.method}` : "";
  const log = $("#log");
  const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 8;
  log.textContent = status.log;
  if (atEnd) log.scrollTop = log.scrollHeight;
  const table = $("#rows");
  if (table) fillRows(table, status);
  setTimeout(() => pollJob(box), 1000);
}

function setUpJob() {
  const box = $("#job");
  if (box && box.dataset.state === "running") setTimeout(() => pollJob(box), 500);
}

// ---- the runs table: filters apply when a select changes ----
function setUpRuns() {
  const filters = $("#filters");
  if (!filters) return;
  $all("select", filters).forEach(s => s.addEventListener("change", () => filters.submit()));
}

document.addEventListener("DOMContentLoaded", () => { setUpNewRun(); setUpJob(); setUpRuns(); });
