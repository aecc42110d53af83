// Copy buttons: shown only where a script runs; without it the field is still selectable.
"use strict";
for (const button of document.querySelectorAll("button[data-copy]")) {
  const field = document.getElementById(button.dataset.copy);
  const status = button.closest(".copy")?.querySelector(".copied");
  if (!field || !navigator.clipboard) continue;
  button.hidden = false;
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(field.value);
      if (status) status.textContent = "Kopiert.";
    } catch {
      field.select();
      if (status) status.textContent = "Bitte mit Strg+C (oder lange tippen) kopieren.";
    }
  });
}
