/**
 * A model file must hold exactly one query. The engines run several statements given in one string
 * (DuckDB's driver executes all but the last before preparing the last), so `SELECT …; DROP TABLE x`
 * in a model would run the DROP outside the write path. Refused when the project loads, before
 * anything runs. A trailing `;` or comment is trimmed: Tidemark wraps the query as `(…)`, where a
 * `-- comment` on the last line would swallow the closing parenthesis.
 */
import { TidemarkError } from '../errors.js';

/** The model's one statement, without trailing semicolons, comments or blanks. */
export function modelStatement(text: string, file: string): string {
  const statement = oneStatement(text);
  if (statement === '') {
    throw new TidemarkError('CONFIG', `${file} holds no SQL`, { hint: `write one SELECT for one partition window in ${file}` });
  }
  if (statement === null) {
    throw new TidemarkError('CONFIG', `${file} holds more than one SQL statement`, {
      hint: `a model is one SELECT (or WITH … SELECT) for one partition window: remove everything after the first ';' in ${file}`,
    });
  }
  return statement;
}

/**
 * `text`'s one statement without trailing semicolons, comments or blanks ('' when it holds none), or
 * null when a `;` is followed by more SQL: a second statement. A `;` in a string literal, a quoted
 * identifier, a dollar-quoted body or a comment ends nothing.
 */
export function oneStatement(text: string): string | null {
  const { ends, last } = scan(text);
  return ends.some((at) => at < last) ? null : text.slice(0, last).trim();
}

/**
 * Walks the SQL once, skipping string literals, quoted identifiers, dollar-quoted bodies and comments:
 * `ends` are the offsets of statement-ending semicolons, `last` is the offset just after the last
 * character that is neither blank, comment nor semicolon.
 */
function scan(sql: string): { ends: number[]; last: number } {
  const ends: number[] = [];
  let last = 0;
  let i = 0;
  while (i < sql.length) {
    const c = sql[i];
    const next = sql[i + 1];
    if (c === '-' && next === '-') {
      const eol = sql.indexOf('\n', i);
      i = eol === -1 ? sql.length : eol + 1;
    } else if (c === '/' && next === '*') {
      i = blockCommentEnd(sql, i);
    } else if (c === ';') {
      ends.push(i);
      i++;
    } else if (/\s/.test(c)) {
      i++;
    } else {
      i = c === "'" || c === '"' ? quotedEnd(sql, i, c) : c === '$' ? dollarQuotedEnd(sql, i) : i + 1;
      last = i;
    }
  }
  return { ends, last };
}

/** After a quote that doubles to escape itself ('it''s', "a""b"); the end of the text when unclosed. */
function quotedEnd(sql: string, start: number, quote: string): number {
  let i = start + 1;
  while (i < sql.length) {
    if (sql[i] === quote) {
      if (sql[i + 1] !== quote) return i + 1;
      i += 2;
    } else i++;
  }
  return sql.length;
}

/** After a nested-aware block comment. */
function blockCommentEnd(sql: string, start: number): number {
  let depth = 0;
  let i = start;
  while (i < sql.length) {
    if (sql[i] === '/' && sql[i + 1] === '*') {
      depth++;
      i += 2;
    } else if (sql[i] === '*' && sql[i + 1] === '/') {
      depth--;
      i += 2;
      if (depth === 0) return i;
    } else i++;
  }
  return sql.length;
}

/** After `$tag$ … $tag$`; a lone `$` (a parameter such as $1) is one character. */
function dollarQuotedEnd(sql: string, start: number): number {
  const tag = /^\$[A-Za-z_]*\$/.exec(sql.slice(start))?.[0];
  if (!tag) return start + 1;
  const close = sql.indexOf(tag, start + tag.length);
  return close === -1 ? sql.length : close + tag.length;
}
