// Content detectors: find sensitive values inside strings whose origin the gateway cannot tell
// (expressions, COPY output, error text) and replace each with a marker "[redacted:<name>]".
// Regular expressions are fine here: they scan VALUES, never SQL. Every pattern is anchored with
// a look-behind so a long run without a match is scanned once (no quadratic backtracking), and
// each detector has a cheap pre-check that skips the regex entirely for most values.

export const DETECTOR_NAMES = ['private_key', 'jwt', 'api_key', 'card_number', 'ssn', 'email'] as const;
export type DetectorName = (typeof DETECTOR_NAMES)[number];

export type DetectorHits = Record<string, number>;

export const marker = (name: string): string => `[redacted:${name}]`;

interface Detector {
  readonly name: DetectorName;
  /** False when the text certainly holds no match. */
  precheck(text: string): boolean;
  /** Returns the text with matches replaced; calls hit() once per match. */
  redact(text: string, hit: () => void): string;
}

// ---------------------------------------------------------------------------------------------
// email

const EMAIL_RE = /(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,24}(?![A-Za-z0-9-])/g;

const email: Detector = {
  name: 'email',
  precheck: (t) => t.includes('@'),
  redact: (t, hit) =>
    t.replace(EMAIL_RE, () => {
      hit();
      return marker('email');
    }),
};

// ---------------------------------------------------------------------------------------------
// card_number: 13–19 digits, single spaces/dashes between groups, Luhn-valid, issuer prefix 2–6

/** Luhn check over the digits of s (non-digits skipped). */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    const c = digits.charCodeAt(i) - 48;
    if (c < 0 || c > 9) continue;
    let d = c;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

function countDigits(t: string, atLeast: number): boolean {
  let n = 0;
  for (let i = 0; i < t.length; i++) {
    const c = t.charCodeAt(i);
    if (c >= 48 && c <= 57 && ++n >= atLeast) return true;
  }
  return false;
}

// A run of digits with single separators between them.
const DIGIT_RUN_RE = /(?<![\d])\d(?:[ -]?\d)+(?![\d])/g;

function isCard(digits: string): boolean {
  if (digits.length < 13 || digits.length > 19) return false;
  const first = digits.charCodeAt(0) - 48;
  // Issuer prefixes: 2 (Mastercard 2-series), 3 (Amex, Diners, JCB), 4 (Visa), 5 (Mastercard),
  // 6 (Discover, UnionPay, Maestro). Excludes 0/1/7/8/9: epoch milliseconds, order numbers.
  if (first < 2 || first > 6) return false;
  return luhnValid(digits);
}

/** Finds card spans inside one run (groups split by separators); returns [start, end) pairs relative to the run. */
function cardSpans(run: string): [number, number][] {
  const groups: { start: number; end: number; digits: string }[] = [];
  const re = /\d+/g;
  for (let m = re.exec(run); m; m = re.exec(run)) groups.push({ start: m.index, end: m.index + m[0].length, digits: m[0] });
  const spans: [number, number][] = [];
  let i = 0;
  while (i < groups.length) {
    let found = -1;
    let digits = '';
    // longest span of whole groups starting at i that is a card
    for (let j = i; j < groups.length; j++) {
      digits += groups[j]!.digits;
      if (digits.length > 19) break;
      if (isCard(digits)) found = j;
    }
    if (found >= 0) {
      spans.push([groups[i]!.start, groups[found]!.end]);
      i = found + 1;
    } else i++;
  }
  return spans;
}

const cardNumber: Detector = {
  name: 'card_number',
  precheck: (t) => t.length >= 13 && countDigits(t, 13),
  redact: (t, hit) =>
    t.replace(DIGIT_RUN_RE, (run) => {
      if (run.length < 13) return run;
      const spans = cardSpans(run);
      if (spans.length === 0) return run;
      let out = '';
      let at = 0;
      for (const [s, e] of spans) {
        hit();
        out += run.slice(at, s) + marker('card_number');
        at = e;
      }
      return out + run.slice(at);
    }),
};

// ---------------------------------------------------------------------------------------------
// ssn: AAA-GG-SSSS (dashes, or spaces), area not 000/666/9xx, group not 00, serial not 0000

const SSN_RE = /(?<![\d-])(\d{3})([- ])(\d{2})\2(\d{4})(?![\d-])/g;

export function ssnValid(area: string, group: string, serial: string): boolean {
  if (area === '000' || area === '666' || area.startsWith('9')) return false;
  return group !== '00' && serial !== '0000';
}

const ssn: Detector = {
  name: 'ssn',
  precheck: (t) => t.length >= 11 && (t.includes('-') || t.includes(' ')) && countDigits(t, 9),
  redact: (t, hit) =>
    t.replace(SSN_RE, (whole: string, area: string, _sep: string, group: string, serial: string) => {
      if (!ssnValid(area, group, serial)) return whole;
      hit();
      return marker('ssn');
    }),
};

// ---------------------------------------------------------------------------------------------
// api_key: well-known prefixes, then long high-entropy tokens

const API_KEY_PREFIXED_RE = new RegExp(
  '(?<![A-Za-z0-9_-])(?:' +
    [
      '(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{10,}', // Stripe secret / restricted keys
      'whsec_[0-9A-Za-z]{20,}', // Stripe webhook secrets
      '(?:AKIA|ASIA)[0-9A-Z]{16}', // AWS access key ids
      'gh[pousr]_[A-Za-z0-9]{30,}', // GitHub tokens
      'github_pat_[A-Za-z0-9_]{22,}', // GitHub fine-grained tokens
      'xox[abposr]-[A-Za-z0-9-]{10,}', // Slack tokens
      'glpat-[A-Za-z0-9_-]{20,}', // GitLab tokens
      'AIza[0-9A-Za-z_-]{35}', // Google API keys
      'sk-(?:proj-|ant-(?:api\\d\\d-)?)?[A-Za-z0-9_-]{20,}', // OpenAI / Anthropic
      'npm_[A-Za-z0-9]{36}', // npm tokens
      'SG\\.[A-Za-z0-9_-]{16,}\\.[A-Za-z0-9_-]{16,}', // SendGrid
    ].join('|') +
    ')',
  'g',
);

// Candidate generic tokens: 32+ characters of the base64/base64url/hex alphabet.
const TOKEN_RE = /(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/_=-]{32,}(?![A-Za-z0-9+/=_-])/g;

/** Shannon entropy in bits per character. */
export function entropy(s: string): number {
  const freq = new Map<number, number>();
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    freq.set(c, (freq.get(c) ?? 0) + 1);
  }
  let h = 0;
  for (const n of freq.values()) {
    const p = n / s.length;
    h -= p * Math.log2(p);
  }
  return h;
}

/** Share of characters in runs of 4+ lower-case letters: words. ~0.6–0.8 for camelCase, ~0.1 for random tokens. */
export function wordShare(s: string): number {
  let inWords = 0;
  let run = 0;
  for (let i = 0; i <= s.length; i++) {
    const c = i < s.length ? s.charCodeAt(i) : 0;
    if (c >= 97 && c <= 122) run++;
    else {
      if (run >= 4) inWords += run;
      run = 0;
    }
  }
  return inWords / s.length;
}

/**
 * A generic secret-looking token of 32+ characters: upper case, lower case and digits all present
 * (so hex digests, UUIDs, snake_case names and paths are not flagged), at least 3.5 bits of entropy
 * per character (not repetitive), and less than half of it in lower-case words (camelCase
 * identifiers are mostly words; random tokens are not). Measured on random base62/base64 tokens of
 * 32 characters: ~0.6% are missed (no digit, or wordy by chance). Known false positives: base64
 * of random bytes (digests, nonces) and camelCase names made of short words
 * ("ThisIsAVeryLongName2..."), harmless for values whose origin is unknown anyway.
 */
export function looksLikeSecretToken(tok: string): boolean {
  if (tok.length < 32) return false;
  let upper = false;
  let lower = false;
  let digit = false;
  for (let i = 0; i < tok.length; i++) {
    const c = tok.charCodeAt(i);
    if (c >= 65 && c <= 90) upper = true;
    else if (c >= 97 && c <= 122) lower = true;
    else if (c >= 48 && c <= 57) digit = true;
  }
  return upper && lower && digit && wordShare(tok) < 0.5 && entropy(tok) >= 3.5;
}

const apiKey: Detector = {
  name: 'api_key',
  precheck: (t) => t.length >= 20,
  redact: (t, hit) => {
    const out = t.replace(API_KEY_PREFIXED_RE, () => {
      hit();
      return marker('api_key');
    });
    if (out.length < 32) return out;
    return out.replace(TOKEN_RE, (tok) => {
      if (!looksLikeSecretToken(tok)) return tok;
      hit();
      return marker('api_key');
    });
  },
};

// ---------------------------------------------------------------------------------------------
// jwt: header.payload.signature in base64url, header decodes to a JSON object with "alg"

const JWT_RE = /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*/g;

export function jwtHeaderValid(header: string): boolean {
  try {
    const v: unknown = JSON.parse(Buffer.from(header, 'base64url').toString('utf8'));
    return typeof v === 'object' && v !== null && typeof (v as { alg?: unknown }).alg === 'string';
  } catch {
    return false;
  }
}

const jwt: Detector = {
  name: 'jwt',
  precheck: (t) => t.includes('eyJ'),
  redact: (t, hit) =>
    t.replace(JWT_RE, (tok) => {
      if (!jwtHeaderValid(tok.slice(0, tok.indexOf('.')))) return tok;
      hit();
      return marker('jwt');
    }),
};

// ---------------------------------------------------------------------------------------------
// private_key: PEM / OpenSSH / PGP private key blocks; an unterminated block is redacted to the end

const PRIVATE_KEY_RE = /-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY( BLOCK)?-----[\s\S]*?(?:-----END \1PRIVATE KEY\2-----|$)/g;

const privateKey: Detector = {
  name: 'private_key',
  precheck: (t) => t.includes('PRIVATE KEY'),
  redact: (t, hit) =>
    t.replace(PRIVATE_KEY_RE, () => {
      hit();
      return marker('private_key');
    }),
};

// ---------------------------------------------------------------------------------------------

const ALL: Record<DetectorName, Detector> = {
  private_key: privateKey,
  jwt,
  api_key: apiKey,
  card_number: cardNumber,
  ssn,
  email,
};

export function isDetectorName(name: string): name is DetectorName {
  return (DETECTOR_NAMES as readonly string[]).includes(name);
}

/**
 * A compiled detector set: the requested names in a fixed order (private keys and JWTs before the
 * generic token rule, cards before SSNs). Unknown names are kept in `unknown` and ignored.
 */
export class DetectorSet {
  readonly names: readonly DetectorName[];
  readonly unknown: readonly string[];
  private readonly list: Detector[];

  constructor(names: Iterable<string>) {
    const wanted = new Set(names);
    this.names = DETECTOR_NAMES.filter((n) => wanted.has(n));
    this.unknown = [...wanted].filter((n) => !isDetectorName(n));
    this.list = this.names.map((n) => ALL[n]);
  }

  get empty(): boolean {
    return this.list.length === 0;
  }

  /** Replaces every match; adds the number of matches per detector to `hits`. */
  redact(text: string, hits: DetectorHits): string {
    let out = text;
    for (const d of this.list) {
      if (!d.precheck(out)) continue;
      out = d.redact(out, () => {
        hits[d.name] = (hits[d.name] ?? 0) + 1;
      });
    }
    return out;
  }
}

const setCache = new Map<string, DetectorSet>();

/** `DetectorSet` for a list of names, cached by the list. */
export function detectorSet(names: readonly string[]): DetectorSet {
  const key = names.join(',');
  let s = setCache.get(key);
  if (!s) {
    s = new DetectorSet(names);
    if (setCache.size < 64) setCache.set(key, s);
  }
  return s;
}

/** Runs the named detectors over text: the redacted text and the matches per detector. */
export function scanAndRedact(text: string, detectorNames: readonly string[]): { text: string; hits: DetectorHits } {
  const hits: DetectorHits = {};
  return { text: detectorSet(detectorNames).redact(text, hits), hits };
}
