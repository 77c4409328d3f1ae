/**
 * Removing secrets from text that may reach audit records, logs or `--json` output.
 *
 * Two sources of secrets:
 *  - values the project interpolated from `${VAR}` in tidemark.yaml (the config loader collects
 *    them): every occurrence is replaced, wherever it appears;
 *  - values that look like credentials by their shape even though Tidemark never saw them in its
 *    config: the argument after a `--token`-like flag, `password=…`-like assignments, the password
 *    of a `scheme://user:password@host` URL and `Bearer …` tokens. A command line is stored in the
 *    audit trail forever, so we err on the side of removing too much.
 */

export const REDACTED = '***';

/** Flag or key names whose value is a credential: token, password, secret, api key, … */
const SECRET_NAME = String.raw`(?:[A-Za-z0-9_-]*(?:token|passw(?:or)?d|pwd|secret|api[_-]?key|access[_-]?key|private[_-]?key|credentials?)[A-Za-z0-9_-]*|auth(?:orization)?)`;

/** `--token VALUE`, `--token=VALUE`, `--db-password "two words"`. The flag is kept, the value goes. */
const SECRET_FLAG = new RegExp(String.raw`(--${SECRET_NAME})(=|\s+)("(?:[^"\\]|\\.)*"|'[^']*'|[^\s"']+)`, 'gi');

/** `password=VALUE`, `api_key: VALUE`, `"token":"VALUE"`, `?token=VALUE&…` (a bare value ends at whitespace, `&`, `;`, `,` or a quote). */
const SECRET_ASSIGNMENT = new RegExp(String.raw`(\b${SECRET_NAME}["']?\s*[=:]\s*)("(?:[^"\\]|\\.)*"|'[^']*'|[^\s&;,"']+)`, 'gi');

/** `postgres://user:password@host` keeps the user and host. */
const URL_PASSWORD = /([a-z][a-z0-9+.-]*:\/\/[^\s:/@]*:)[^\s@/]+@/gi;

/** `Authorization: Bearer abc…` */
const BEARER = /(\bbearer\s+)[A-Za-z0-9._~+/=-]+/gi;

/**
 * Returns `text` with configured secret values and credential-shaped values replaced by `***`.
 * Configured values are replaced longest first, so a secret that contains another is removed whole.
 */
export function redactSecrets(text: string, configuredSecrets: readonly string[] = []): string {
  let out = text;
  const values = [...new Set(configuredSecrets)].filter((s) => s.length > 0).sort((a, b) => b.length - a.length);
  for (const secret of values) out = out.split(secret).join(REDACTED);
  // Bearer first: `Authorization: Bearer x` must lose x, not just the word Bearer.
  return out
    .replace(BEARER, `$1${REDACTED}`)
    .replace(SECRET_FLAG, (_m, flag: string, sep: string) => `${flag}${sep}${REDACTED}`)
    .replace(SECRET_ASSIGNMENT, (m, key: string, value: string) => (value === REDACTED || /^bearer$/i.test(value) ? m : `${key}${REDACTED}`))
    .replace(URL_PASSWORD, `$1${REDACTED}@`);
}
