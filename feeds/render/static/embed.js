// Upcoming events on another website, from one line:
//   <script src="https://…/embed.js" data-site="kaiserslautern" data-region="…" async></script>
// No third-party code, no HTML strings and no inline styles: text goes in as text nodes and
// styles through the CSSOM, so a strict Content-Security-Policy that allows this address for
// script-src and connect-src is all a page needs. Fonts and colours come from the page.
(() => {
  "use strict";
  const script = document.currentScript;
  if (!script || !script.src) return;
  const base = new URL(".", script.src);
  const data = script.dataset;
  const site = /^[a-z0-9-]+$/.test(data.site || "") ? data.site : "network";
  const query = new URLSearchParams();
  for (const name of ["region", "category", "q", "near", "radius"]) {
    if (data[name]) query.set(name, data[name]);
  }
  query.set("limit", /^[0-9]{1,2}$/.test(data.limit || "") ? data.limit : "5");

  const make = (tag, text, style) => {
    const node = document.createElement(tag);
    if (text) node.textContent = text;
    Object.assign(node.style, style || {});
    return node;
  };
  const box = make("section", null, { font: "inherit", color: "inherit", margin: "1em 0" });
  box.className = "engagement-termine";
  const title = data.title || "Termine";
  // data-heading="none": the page has its own heading; the box is named for screen readers.
  const heading = data.heading === "none" ? null : make("h2", title, { margin: "0 0 0.5em" });
  if (heading) {
    heading.id = `engagement-termine-${Math.random().toString(36).slice(2)}`;
    box.setAttribute("aria-labelledby", heading.id);
  } else {
    box.setAttribute("aria-label", title);
  }
  const list = make("ul", null, { listStyle: "none", margin: "0", padding: "0" });
  const state = make("p", "Termine werden geladen …", { margin: "0.5em 0" });
  state.setAttribute("role", "status");
  if (heading) box.append(heading);
  box.append(state, list);
  script.after(box);

  const day = (iso, zone, allDay) => {
    const options = { weekday: "short", day: "numeric", month: "long", year: "numeric" };
    if (allDay) return new Date(`${iso}T12:00:00Z`).toLocaleDateString("de-DE", { ...options, timeZone: "UTC" });
    return new Date(iso).toLocaleDateString("de-DE", { ...options, timeZone: zone });
  };
  const clock = (iso, zone) =>
    new Date(iso).toLocaleTimeString("de-DE", { hour: "2-digit", minute: "2-digit", timeZone: zone });
  const when = (event) => {
    const zone = event.timezone || "Europe/Berlin";
    if (event.all_day) {
      const first = day(event.start, zone, true);
      return event.end && event.end !== event.start ? `${first} – ${day(event.end, zone, true)}` : first;
    }
    let text = `${day(event.start, zone)}, ${clock(event.start, zone)}`;
    if (event.end && day(event.end, zone) === day(event.start, zone)) text += `–${clock(event.end, zone)}`;
    return `${text} Uhr`;
  };
  const safeUrl = (value) => {
    try {
      const url = new URL(value, base);
      return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
    } catch {
      return null;
    }
  };

  fetch(new URL(`${site}/events.json?${query}`, base), { credentials: "omit" })
    .then((response) => (response.ok ? response.json() : Promise.reject(response.status)))
    .then((feed) => {
      state.remove();
      if (!feed.items.length) {
        list.append(make("li", "Zurzeit sind keine Termine angekündigt."));
      }
      for (const item of feed.items) {
        const event = item._event || {};
        const li = make("li", null, { padding: "0.4em 0", borderTop: "1px solid rgba(127,127,127,.35)" });
        const time = make("time", event.start ? when(event) : "", { display: "block", fontWeight: "600" });
        if (event.start) time.dateTime = event.start;
        const href = safeUrl(item.url);
        const flag = { cancelled: "Abgesagt: ", postponed: "Verschoben: " }[event.status] || "";
        const name = flag + (item.title || "");
        const link = href ? make("a", name) : make("span", name);
        if (href) link.href = href;
        li.append(time, link);
        const place = event.location && (event.location.name || event.location.address);
        const group = event.group && site === "network" ? event.group.name : null;
        const detail = [place, group].filter(Boolean).join(" · ");
        if (detail) li.append(make("span", detail, { display: "block", opacity: "0.8", fontSize: "0.9em" }));
        list.append(li);
      }
      const more = make("p", null, { margin: "0.5em 0 0" });
      // To the page of what the box shows: the group's, its region's, or the network's.
      const all = make("a", "Alle Termine und Kalender abonnieren");
      const region = data.region ? `?${new URLSearchParams({ region: data.region })}` : "";
      all.href = new URL(site === "network" ? `./${region}` : `${site}/`, base).href;
      more.append(all);
      box.append(more);
      box.dataset.loaded = String(feed.items.length);
    })
    .catch(() => {
      state.textContent = "Die Termine können gerade nicht geladen werden.";
      box.dataset.loaded = "error";
    });
})();
