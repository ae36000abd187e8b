/** The asset classes the calendars know. */
export type AssetClass = 'fx' | 'equity';

/**
 * ISO 4217 codes (plus the precious metals XAU/XAG) that make a 6-letter symbol an FX pair.
 * A plain "6 letters" rule would classify 6-letter tickers as currencies.
 */
const CURRENCIES = new Set([
  'USD',
  'EUR',
  'GBP',
  'JPY',
  'CHF',
  'AUD',
  'NZD',
  'CAD',
  'SEK',
  'NOK',
  'DKK',
  'HKD',
  'SGD',
  'CNH',
  'CNY',
  'MXN',
  'ZAR',
  'TRY',
  'PLN',
  'HUF',
  'CZK',
  'ILS',
  'INR',
  'KRW',
  'BRL',
  'XAU',
  'XAG',
]);

/**
 * The asset class of a symbol: a 6-letter pair of currency codes (`EURUSD`, `USDJPY`) is `fx`,
 * everything else `equity`, unless `overrides` names the symbol.
 *
 * @example assetClassOf('EURUSD') // 'fx'; assetClassOf('SPY') // 'equity'
 */
export function assetClassOf(
  symbol: string,
  overrides: Readonly<Record<string, AssetClass>> = {},
): AssetClass {
  const upper = symbol.toUpperCase();
  const override = overrides[upper];
  if (override !== undefined) return override;
  return /^[A-Z]{6}$/.test(upper) && CURRENCIES.has(upper.slice(0, 3)) && CURRENCIES.has(upper.slice(3))
    ? 'fx'
    : 'equity';
}
