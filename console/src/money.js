// Money: integer minor units (decimal strings from the API) shown in the currency's
// format with its code, and typed amounts turned back into minor units. Only string
// and BigInt operations: no float ever holds an amount.

const templates = new Map();

function template(currency, locale) {
  const cacheKey = `${currency}|${locale ?? ''}`;
  if (!templates.has(cacheKey)) {
    // The locale's pattern for this currency, shown with its code (where the code goes,
    // the spacing); the digits are put in from the amount's own string below.
    const format = new Intl.NumberFormat(locale, { style: 'currency', currency, currencyDisplay: 'code' });
    templates.set(cacheKey, { parts: format.formatToParts(0), grouping: new Intl.NumberFormat(locale) });
  }
  return templates.get(cacheKey);
}

/** The decimal separator of ``locale``. */
export function decimalSeparator(locale) {
  return new Intl.NumberFormat(locale).formatToParts(1.5).find((p) => p.type === 'decimal')?.value ?? '.';
}

/** "1,234.56" for minor units "123456" with 2 decimals (grouping of ``locale``). */
export function formatUnits(minor, decimals, locale) {
  const digits = String(minor);
  if (!/^[0-9]+$/.test(digits)) throw new Error(`not an amount of minor units: ${digits}`);
  const padded = digits.padStart(decimals + 1, '0');
  const whole = padded.slice(0, padded.length - decimals);
  const fraction = padded.slice(padded.length - decimals);
  // XXX is ISO 4217's "no currency" code: the locale's digit grouping without a symbol.
  const grouped = template('XXX', locale).grouping.format(BigInt(whole));
  return decimals > 0 ? `${grouped}${decimalSeparator(locale)}${fraction}` : grouped;
}

/** "CNY 1,234.56" (en-US) / "1.234,56 CNY" (de-DE): minor units in the currency's format. */
export function formatMoney(minor, currency, decimals, locale) {
  const number = formatUnits(minor, decimals, locale);
  let out = '';
  let placed = false;
  for (const part of template(currency, locale).parts) {
    if (['integer', 'group', 'decimal', 'fraction'].includes(part.type)) {
      if (!placed) out += number;
      placed = true;
    } else if (part.type === 'currency') {
      out += currency;
    } else {
      out += part.value;
    }
  }
  return out;
}

/**
 * Minor units (a decimal string) for a typed amount such as "600,000.00" or "600000"
 * with ``decimals`` decimals; throws an Error saying what is wrong.
 */
export function parseAmount(text, decimals) {
  const cleaned = String(text).trim().replace(/[\s,_]/g, '');
  const match = /^([0-9]+)(?:\.([0-9]*))?$/.exec(cleaned);
  if (!match) throw new Error('type an amount such as 1000.00 (digits, at most one ".")');
  const fraction = match[2] ?? '';
  if (fraction.length > decimals) throw new Error(`at most ${decimals} decimals in this currency`);
  const minor = (match[1] + fraction.padEnd(decimals, '0')).replace(/^0+(?=[0-9])/, '');
  if (/^0+$/.test(minor)) throw new Error('the amount must be more than zero');
  return minor;
}

/** Sum of minor-unit strings, as a string. */
export const sumMinor = (amounts) => amounts.reduce((total, a) => total + BigInt(a), 0n).toString();

/** "90.00%" for 9000 basis points (integer arithmetic). */
export function percent(bps) {
  const n = Number(bps);
  return `${Math.trunc(n / 100)}.${String(n % 100).padStart(2, '0')}%`;
}

/** Basis points for a typed percentage such as "90" or "6.5" (at most 2 decimals). */
export function parsePercent(text) {
  const match = /^([0-9]{1,5})(?:\.([0-9]{0,2}))?$/.exec(String(text).trim().replace(/%$/, '').trim());
  if (!match) throw new Error('type a percentage such as 90 or 6.5 (at most 2 decimals)');
  return Number(match[1]) * 100 + Number((match[2] ?? '').padEnd(2, '0'));
}
