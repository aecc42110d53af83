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

// Android has no app that takes webcal:// links: a tap on "Im Kalender abonnieren" would do
// nothing. There the button leads to Google Calendar's subscription, the calendar Android
// phones show, which one tap (and a confirmation) completes.
if (/Android/i.test(navigator.userAgent)) {
  for (const block of document.querySelectorAll(".subscribe")) {
    const primary = block.querySelector("a.button.primary[href^='webcal:']");
    const google = block.querySelector("a[data-google]");
    if (!primary || !google) continue;
    primary.href = google.href;
    const hint = primary.nextElementSibling;
    if (hint) hint.textContent = "öffnet Google Kalender, den Kalender Ihres Android-Handys";
  }
}
