/**
 * Model SQL templates. Deliberately tiny: `{{ start }}`, `{{ end }}`, `{{ ref('x') }}` and, in check
 * SQL, `{{ this }}`. Anything else between braces is an error, so a typo never silently renders as text.
 */
import { TidemarkError } from '../errors.js';

const TAG = /\{\{\s*(.*?)\s*\}\}/g;
const REF = /^ref\(\s*(['"])([A-Za-z_][A-Za-z0-9_]*)\1\s*\)$/;

export interface RenderContext {
  start?: string;
  end?: string;
  ref?: (dataset: string) => string;
  this?: string;
}

/** Datasets named by `ref()` in a template, in order of first appearance. */
export function parseRefs(template: string, where: string): string[] {
  const refs: string[] = [];
  for (const match of template.matchAll(TAG)) {
    const tag = match[1];
    const ref = REF.exec(tag);
    if (ref) {
      if (!refs.includes(ref[2])) refs.push(ref[2]);
    } else if (!['start', 'end', 'this'].includes(tag)) {
      throw new TidemarkError('CONFIG', `${where}: unknown template tag '{{ ${tag} }}'`, {
        hint: "use {{ start }}, {{ end }} or {{ ref('dataset') }}",
      });
    }
  }
  return refs;
}

export function renderTemplate(template: string, ctx: RenderContext, where: string): string {
  return template.replace(TAG, (_all, tag: string) => {
    const ref = REF.exec(tag);
    if (ref && ctx.ref) return ctx.ref(ref[2]);
    if (tag === 'start' && ctx.start !== undefined) return ctx.start;
    if (tag === 'end' && ctx.end !== undefined) return ctx.end;
    if (tag === 'this' && ctx.this !== undefined) return ctx.this;
    throw new TidemarkError('CONFIG', `${where}: template tag '{{ ${tag} }}' cannot be used here`);
  });
}
