/** `@keylane/engine/items`: the items table as an entity (the item service's, the demo's and the bench's). */
export {
  assertItemsTable,
  createItems,
  DEFAULT_ITEMS_SCHEMA,
  encodeItemValue,
  ensureItemsTable,
  itemsTableDdl,
  type Items,
  type ItemsOptions,
  type ItemsStats,
  type WriteOptions,
} from './items.js';
