/**
 * The printed schema is the public API: the committed schema.graphql must be what the code
 * prints (run `npm run codegen` after changing the schema), and it must contain the pinned
 * contract without a breaking change.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildSchema, findBreakingChanges, lexicographicSortSchema, printSchema } from 'graphql';
import { describe, expect, it } from 'vitest';
import { printedSchema, schema } from '../src/schema/index.ts';

const root = join(import.meta.dirname, '..');
const contractPath = join(root, '..', 'shared', 'contract', 'schema.graphql');

describe('schema', () => {
  it('matches the committed schema.graphql (run npm run codegen when this fails)', () => {
    const committed = buildSchema(readFileSync(join(root, 'schema.graphql'), 'utf8'));
    expect(printSchema(lexicographicSortSchema(committed))).toBe(printedSchema().trimEnd());
  });

  it('contains the public contract with no breaking change', () => {
    const contract = buildSchema(readFileSync(contractPath, 'utf8'));
    expect(findBreakingChanges(contract, schema)).toEqual([]);
  });

  it('keeps every contract description, so GraphiQL documents what the contract promises', () => {
    const contract = buildSchema(readFileSync(contractPath, 'utf8'));
    const missing: string[] = [];
    for (const type of Object.values(contract.getTypeMap())) {
      if (type.name.startsWith('__') || !('getFields' in type)) continue;
      const ours = schema.getType(type.name);
      const ourFields = ours !== undefined && ours !== null && 'getFields' in ours ? ours.getFields() : {};
      for (const field of Object.values(type.getFields())) {
        if (field.description && ourFields[field.name]?.description !== field.description) {
          missing.push(`${type.name}.${field.name}`);
        }
      }
    }
    expect(missing).toEqual([]);
  });
});
