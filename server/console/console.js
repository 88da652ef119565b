// specgate console: progressive behaviour only. Every page works without it.
"use strict";

// Copy buttons: data-copy names the input whose value to copy.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const field = document.getElementById(button.dataset.copy);
  field.select();
  try {
    await navigator.clipboard.writeText(field.value);
  } catch {
    document.execCommand("copy");
  }
  button.textContent = "Copied";
});

// Confirm destructive forms.
document.addEventListener("submit", (event) => {
  const message = event.target.dataset.confirm;
  if (message && !window.confirm(message)) event.preventDefault();
});

// Live preview: the tools a server form's filters yield, from the server's own filter code.
for (const form of document.querySelectorAll("form[data-preview]")) {
  const target = form.querySelector("#preview");
  let pending;
  const refresh = () => {
    const query = new URLSearchParams(new FormData(form));
    query.delete("csrf");
    clearTimeout(pending);
    pending = setTimeout(async () => {
      const response = await fetch(`${form.dataset.preview}?${query}`, { credentials: "same-origin" });
      if (response.ok) target.innerHTML = await response.text();
    }, 150);
  };
  form.addEventListener("change", refresh);
  form.addEventListener("input", refresh);
}
