// Client text and values inside error messages: short, and without control characters.

/** Client text inside an error message: at most `max` characters, control characters removed. */
export function clip(text: string, max: number): string {
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/[\u0000-\u001f\u007f]/g, ' ');
  return clean.length > max ? `${clean.slice(0, max - 3)}...` : clean;
}

/** A value as an error message shows it: short, and never more than 40 characters of it. */
export function describe(v: unknown): string {
  if (v === undefined) return 'undefined';
  const text = typeof v === 'object' && v !== null ? (Array.isArray(v) ? 'an array' : 'an object') : JSON.stringify(v);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}
