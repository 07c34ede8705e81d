import type { Language } from './i18n';

const locale: Record<Language, string> = { en: 'en-GB', nl: 'nl-NL' };

/** A date and time in the user's language and the browser's time zone. */
export function formatDateTime(iso: string, language: Language): string {
  return new Intl.DateTimeFormat(locale[language], { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(iso));
}

/** HH:MM, for the timeline's entries. */
export function formatTime(iso: string, language: Language): string {
  return new Intl.DateTimeFormat(locale[language], { hour: '2-digit', minute: '2-digit' }).format(new Date(iso));
}

/** A length of time in words ("2 hours 15 minutes", "2 uur 15 minuten"). */
export function formatDuration(seconds: number, language: Language): string {
  const days = Math.floor(seconds / 86400);
  const hours = Math.floor((seconds % 86400) / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  const parts: string[] = [];
  const unit = (value: number, u: 'day' | 'hour' | 'minute') => new Intl.NumberFormat(locale[language], { style: 'unit', unit: u, unitDisplay: 'long' }).format(value);
  if (days) parts.push(unit(days, 'day'));
  if (hours) parts.push(unit(hours, 'hour'));
  if (minutes || parts.length === 0) parts.push(unit(minutes, 'minute'));
  return new Intl.ListFormat(locale[language], { style: 'long', type: 'unit' }).format(parts);
}

/** A countdown: h:mm:ss, or m:ss under an hour. */
export function formatCountdown(ms: number): string {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const two = (n: number) => String(n).padStart(2, '0');
  return h > 0 ? `${h}:${two(m)}:${two(s)}` : `${m}:${two(s)}`;
}

/** An ISO 8601 duration's length in seconds (the forms the API answers: PnDTnHnMnS). */
export function isoDurationSeconds(iso: string): number {
  const m = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/.exec(iso);
  if (!m) return 0;
  const [, d = '0', h = '0', min = '0', s = '0'] = m;
  return Number(d) * 86400 + Number(h) * 3600 + Number(min) * 60 + Number(s);
}

/** Seconds as the ISO 8601 duration the API takes. */
export function toIsoDuration(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  return `PT${h ? `${h}H` : ''}${m || !h ? `${m}M` : ''}`;
}
