import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createTestContext, type TestContext } from '@keylane/harness';
import { assertItemsTable, ensureItemsTable, itemsTableDdl } from '../src/items/index.js';

describe('the items table DDL', () => {
  let ctx: TestContext;
  beforeAll(async () => {
    ctx = await createTestContext({ name: 'engine_items_ddl' });
  });
  afterAll(async () => {
    await ctx.dispose();
  });

  it('ships sql/items.sql as exactly the DDL ensureItemsTable runs', () => {
    const shipped = readFileSync(new URL('../sql/items.sql', import.meta.url), 'utf8');
    const statements = shipped
      .split('\n')
      .filter((line) => !line.startsWith('--'))
      .join('\n');
    expect(statements).toBe(itemsTableDdl());
  });

  it('creates the table once when many instances start together, and says when it is missing', async () => {
    const schema = `${ctx.schema}_items`;
    await expect(assertItemsTable({ connectionString: ctx.databaseUrl }, schema)).rejects.toThrow(/does not exist; apply sql\/items.sql/);
    await Promise.all(Array.from({ length: 8 }, () => ensureItemsTable({ connectionString: ctx.databaseUrl }, schema)));
    await assertItemsTable({ connectionString: ctx.databaseUrl }, schema);
    await ctx.pg.query(`DROP SCHEMA "${schema}" CASCADE`);
  });

  it('refuses a schema that is not a plain identifier', () => {
    expect(() => itemsTableDdl('Robert"; DROP')).toThrow(/lowercase identifier/);
  });
});
