// The task page: asks the JSON API for a task, shows it by kind, sends the answer, repeats.
// Every key has a shortcut shown on the page; texts are set as text (never as HTML) and laid out
// with dir="auto", so right-to-left scripts read right to left.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { task: null, shownAt: 0, chosen: new Set(), spans: [], keys: {}, done: 0 };
const settings = {};

function codePoints(text, units) {
  return Array.from(text.slice(0, units)).length; // the service counts characters, not UTF-16 units
}

function button(label, key, action) {
  const element = document.createElement("button");
  element.type = "button";
  const hint = document.createElement("kbd");
  hint.textContent = key;
  element.append(hint, " " + label);
  element.addEventListener("click", action);
  state.keys[key.toLowerCase()] = action;
  return element;
}

function field(tag, attributes) {
  const element = document.createElement(tag);
  Object.assign(element, attributes);
  element.dir = "auto";
  element.lang = state.task.language;
  return element;
}

async function api(path, options = {}) {
  const headers = { Authorization: `Bearer ${settings.token}`, "Content-Type": "application/json" };
  const response = await fetch(path, { ...options, headers });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(body.detail || `${response.status} ${response.statusText}`);
    error.status = response.status;
    throw error;
  }
  return body;
}

async function next() {
  const query = new URLSearchParams({
    project: settings.project, annotator: settings.annotator, lang: settings.languages,
  });
  try {
    const reply = await api(`next-task?${query}`);
    if (reply.task) {
      show(reply.task);
      return;
    }
    finished(`No task for you now (${reply.reason}).`);
  } catch (error) {
    finished(error.message);
  }
}

function finished(message) {
  state.task = null;
  state.keys = {};
  $("task").hidden = false;
  $("task").dataset.kind = "none";
  $("task").dataset.assignment = "none";
  $("instruction").textContent = "";
  $("text").textContent = "";
  $("answer").replaceChildren();
  $("keys").textContent = "";
  $("message").textContent = message;
}

async function send(value) {
  const task = state.task;
  const seconds = (performance.now() - state.shownAt) / 1000;
  try {
    await api("answers", {
      method: "POST", body: JSON.stringify({ assignment: task.assignment, value, seconds }),
    });
    state.done += 1;
    $("done").textContent = `${state.done} done`;
  } catch (error) {
    if (error.status !== 409) { // 409: others settled it meanwhile; go on
      $("message").textContent = error.message;
      return;
    }
  }
  next();
}

const KINDS = {
  label(task) {
    const { labels, multiple } = task.options;
    $("instruction").textContent = multiple ? "Choose every label that fits." : "Choose the label.";
    labels.forEach((label, index) => {
      const element = button(label, String(index + 1), () => {
        if (!multiple) return send(label);
        const on = !state.chosen.has(label);
        on ? state.chosen.add(label) : state.chosen.delete(label);
        element.setAttribute("aria-pressed", String(on));
      });
      $("answer").append(element);
    });
    if (multiple) {
      $("answer").append(button("send", "Enter", () => send(labels.filter((l) => state.chosen.has(l)))));
    }
    return multiple ? "Numbers toggle labels; Enter sends." : "Press a label's number.";
  },

  validate(task) {
    const asked = Object.entries(task.data).map(([key, value]) => `${key}: ${value}`).join(", ");
    $("instruction").textContent = `Does this text do what was asked${asked ? ` (${asked})` : ""}?`;
    const reason = field("input", { id: "reason", placeholder: "Why not? (Enter sends)", hidden: true });
    reason.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && reason.value.trim()) send({ accept: false, reason: reason.value.trim() });
    });
    $("answer").append(
      button("accept", "A", () => send({ accept: true })),
      button("reject", "R", () => { reason.hidden = false; reason.focus(); }),
      reason,
    );
    return "A accepts; R rejects, then write why and press Enter.";
  },

  create(task) {
    const { min_characters: low, max_characters: high } = task.options;
    $("instruction").textContent = `Write a text in ${task.language} (${low} to ${high} characters):`;
    const box = field("textarea", { id: "written", maxLength: high });
    box.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) send({ text: box.value });
    });
    $("answer").append(box);
    box.focus();
    return "Ctrl+Enter sends.";
  },

  rate(task) {
    const { low, high } = task.options;
    $("instruction").textContent = `Rate the text from ${low} to ${high}.`;
    const whole = Number.isInteger(low) && Number.isInteger(high) && low >= 0 && high <= 9; // one key each
    if (whole) {
      for (let value = low; value <= high; value += 1) {
        $("answer").append(button(String(value), String(value), () => send(value)));
      }
      return "Press the number.";
    }
    const input = field("input", { id: "rating", type: "number", min: low, max: high, step: "any" });
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && input.value !== "") send(Number(input.value));
    });
    $("answer").append(input);
    input.focus();
    return "Type the number; Enter sends.";
  },

  tag(task) {
    $("instruction").textContent = "Select a name in the text, then press its type's number.";
    const list = document.createElement("ul");
    list.id = "spans";
    const redraw = () => list.replaceChildren(...state.spans.map((span) => {
      const item = document.createElement("li");
      const marked = document.createElement("span");
      marked.className = "span";
      marked.dir = "auto";
      marked.textContent = Array.from(task.text).slice(span.start, span.end).join("");
      item.append(marked, ` → ${span.tag}`);
      return item;
    }));
    task.options.tags.forEach((tag, index) => {
      $("answer").append(button(tag, String(index + 1), () => {
        const selected = selectedSpan(task.text);
        if (!selected) {
          $("message").textContent = "Select words in the text first.";
          return;
        }
        state.spans.push({ ...selected, tag });
        window.getSelection().removeAllRanges();
        $("message").textContent = "";
        redraw();
      }));
    });
    $("answer").append(
      button("undo", "Backspace", () => { state.spans.pop(); redraw(); }),
      button("send", "Enter", () => send(state.spans)),
      list,
    );
    return "Numbers tag the selection; Backspace undoes; Enter sends (nothing marked is an answer too).";
  },
};

function selectedSpan(text) {
  const selection = window.getSelection();
  if (!selection.rangeCount || selection.isCollapsed) return null;
  const range = selection.getRangeAt(0);
  const node = $("text").firstChild;
  if (range.startContainer !== node || range.endContainer !== node) return null;
  let start = range.startOffset;
  let end = range.endOffset;
  while (start < end && /\s/.test(text[start])) start += 1; // a double-click takes the next space
  while (end > start && /\s/.test(text[end - 1])) end -= 1;
  return start < end ? { start: codePoints(text, start), end: codePoints(text, end) } : null;
}

function show(task) {
  Object.assign(state, { task, shownAt: performance.now(), chosen: new Set(), spans: [], keys: {} });
  $("task").hidden = false;
  $("task").dataset.kind = task.kind;
  $("task").dataset.assignment = task.assignment;
  $("task").lang = task.language;
  $("text").lang = task.language;
  $("text").textContent = task.text;
  $("answer").replaceChildren();
  $("message").textContent = "";
  $("keys").textContent = KINDS[task.kind](task);
}

document.addEventListener("keydown", (event) => {
  const typing = ["INPUT", "TEXTAREA"].includes(event.target.tagName);
  if (!state.task || typing || event.ctrlKey || event.altKey || event.metaKey) return;
  const action = state.keys[event.key.toLowerCase()];
  if (action) {
    event.preventDefault();
    action();
  }
});

$("signin").addEventListener("submit", (event) => {
  event.preventDefault();
  for (const name of ["project", "annotator", "languages", "token"]) settings[name] = $(name).value.trim();
  $("signin").hidden = true;
  $("who").textContent = `${settings.annotator} · ${settings.project}`;
  next();
});

// The operator's link may carry the project and token after '#', which browsers never send.
for (const [name, value] of new URLSearchParams(location.hash.slice(1))) {
  if ($(name) && $(name).tagName === "INPUT") $(name).value = value;
}
