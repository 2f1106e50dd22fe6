// Dates in the user's own time zone and locale.

// (dateStyle/timeStyle cannot be combined with timeZoneName, hence the fields.)
const dateTime = new Intl.DateTimeFormat(undefined, {
  year: 'numeric', month: 'short', day: 'numeric', hour: 'numeric', minute: '2-digit', timeZoneName: 'short',
});

/** A Date from an ISO string or unix seconds. */
export function toDate(value) {
  return typeof value === 'number' ? new Date(value * 1000) : new Date(value);
}

/** "Mar 4, 2027, 7:59 AM GMT+8": the moment in the browser's time zone. */
export const formatDateTime = (value) => dateTime.format(toDate(value));

/** Whether the moment has passed. */
export const isPast = (value) => toDate(value).getTime() < Date.now();

/** The user's time zone's name, shown once on each page. */
export const timeZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone;
