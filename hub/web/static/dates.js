/* Dates as every page shows them: in the reader's own locale and with the month's
 * name ("3 Dec 2026, 16:20"), never as "03/12/2026", which UK and US readers read
 * as different days.
 */

const MOMENT_FORMAT = new Intl.DateTimeFormat(undefined, {
  dateStyle: "medium",
  timeStyle: "short",
});

const WHEN_FORMAT = new Intl.DateTimeFormat(undefined, {
  weekday: "short",
  day: "numeric",
  month: "short",
  year: "numeric",
  hour: "2-digit",
  minute: "2-digit",
  timeZoneName: "short",
});

function shown(iso, format) {
  if (!iso) return "";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : format.format(date);
}

/** When something happened: "3 Dec 2026, 16:20". */
export function formatTime(iso) {
  return shown(iso, MOMENT_FORMAT);
}

/** A moment that matters (a release, a due time), with its weekday and zone. */
export function formatWhen(iso) {
  return shown(iso, WHEN_FORMAT);
}
