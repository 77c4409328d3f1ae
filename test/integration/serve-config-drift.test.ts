/**
 * serve's drift check (src/server/config-drift.ts) remembers its last answer while the files the
 * project was loaded from stand as they were (stat), instead of parsing the whole project for every
 * command handed to it. An edit must still be seen at once, a same-size edit too, and undoing it must
 * clear the drift.
 */
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectDrift } from '../../src/server/config-drift.js';
import { builtShop, cleanup, readModel, requireBuild, until, withWorkspace, writeModel } from '../helpers/project.js';

describe('serve notices an edited project with a stat-based check', () => {
  let dir = '';

  beforeAll(async () => {
    requireBuild();
    dir = await builtShop();
  }, 120_000);
  afterAll(() => cleanup(dir));

  it('an edit after a remembered answer is seen, a same-size one too; undoing it clears the drift', async () => {
    const model = path.join(dir, 'models', 'daily_revenue.sql');
    const yaml = path.join(dir, 'tidemark.yaml');
    // Files changed in the last moments are always read again; wait until these are not, so the answer is remembered.
    await until(() => [model, yaml].every((f) => Date.now() - statSync(f).ctimeMs > 2_500));
    const original = readModel(dir, 'daily_revenue');
    await withWorkspace(dir, async (ws) => {
      expect(projectDrift(ws)).toBeNull();
      expect(projectDrift(ws)).toBeNull();

      // Same size, same place: only the file's times (and content) differ.
      const edited = original.replace("o.status = 'paid'", "o.status = 'PAID'");
      expect(edited).not.toBe(original);
      expect(edited.length).toBe(original.length);
      writeModel(dir, 'daily_revenue', edited);
      expect(projectDrift(ws)).toBe('tidemark.yaml or a model file changed');

      writeModel(dir, 'daily_revenue', original);
      expect(projectDrift(ws)).toBeNull();

      writeFileSync(yaml, `${readFileSync(yaml, 'utf8')}# a comment\n`);
      expect(projectDrift(ws)).toBe('tidemark.yaml or a model file changed');
    });
  });
});
