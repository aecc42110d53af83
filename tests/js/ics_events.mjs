// Reads an iCalendar from stdin and prints, as JSON, what ical.js (Thunderbird's parser)
// makes of each VEVENT: instants in UTC, so the tests can compare them with the store's.
import ICAL from "ical.js";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const calendar = new ICAL.Component(ICAL.parse(Buffer.concat(chunks).toString("utf8")));

for (const vtimezone of calendar.getAllSubcomponents("vtimezone")) {
  ICAL.TimezoneService.register(new ICAL.Timezone(vtimezone));
}

const occurrences = Number(process.argv[2] ?? "0");
const instant = (time) => (time.isDate ? time.toString() : time.toJSDate().toISOString());

const events = calendar.getAllSubcomponents("vevent").map((vevent) => {
  const event = new ICAL.Event(vevent);
  const result = {
    uid: event.uid,
    summary: event.summary,
    start: instant(event.startDate),
    end: event.endDate ? instant(event.endDate) : null,
    allDay: event.startDate.isDate,
    zone: event.startDate.zone ? event.startDate.zone.tzid : null,
    recurrenceId: event.recurrenceId ? instant(event.recurrenceId) : null,
    status: vevent.getFirstPropertyValue("status"),
    sequence: event.sequence,
    location: event.location,
    description: event.description,
    categories: vevent.getAllProperties("categories").flatMap((p) => p.getValues()),
  };
  if (event.isRecurring() && occurrences > 0) {
    const iterator = event.iterator();
    result.occurrences = [];
    for (let next = iterator.next(); next && result.occurrences.length < occurrences; next = iterator.next()) {
      result.occurrences.push(instant(next));
    }
  }
  return result;
});

process.stdout.write(JSON.stringify({
  name: calendar.getFirstPropertyValue("x-wr-calname"),
  events,
}));
