// DeltaShare reviewer console (docs/API.md §17): the only script of the pages, served by the app itself.
// Each <time datetime="…Z"> is rendered in UTC by the server; show it in the viewer's time zone and keep the UTC
// text on hover (the title attribute) and for assistive technology (aria-label).
"use strict";

function localiseTimes(root) {
  const format = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "short", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short",
  });
  for (const element of root.querySelectorAll("time[datetime]")) {
    const at = new Date(element.getAttribute("datetime"));
    if (Number.isNaN(at.getTime())) continue;
    const utc = element.getAttribute("title") || element.textContent;
    element.textContent = format.format(at);
    element.setAttribute("title", utc);
    element.setAttribute("aria-label", `${element.textContent} (${utc})`);
    element.dataset.localised = "true";
  }
}

// Destructive buttons ask once more: declining and withdrawing cannot be undone.
function confirmDestructive(root) {
  for (const button of root.querySelectorAll("button.danger")) {
    button.addEventListener("click", (event) => {
      if (!window.confirm(`${button.textContent.trim()}? This cannot be undone.`)) event.preventDefault();
    });
  }
}

// A queued or running version: the page follows it (reloads every 5 s) until it settles, unless the viewer is
// writing a comment.
function followProgress(root) {
  if (!root.querySelector("[data-live='true']")) return;
  window.setInterval(() => {
    const writing = [...root.querySelectorAll("textarea, input[type='text']")].some(
      (field) => field.value || field === document.activeElement,
    );
    if (!writing) window.location.reload();
  }, 5000);
}

document.addEventListener("DOMContentLoaded", () => {
  localiseTimes(document);
  confirmDestructive(document);
  followProgress(document);
});
